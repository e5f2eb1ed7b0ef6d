"""Pins issue 13 defect 2: the target's size limits. A remote topic copies the source's
`segment.bytes`; Kafka refuses a record batch larger than the topic's `segment.bytes`
(RECORD_LIST_TOO_LARGE) or `max.message.bytes` (MESSAGE_TOO_LARGE). The mirror used one producer
with librdkafka's ~1 MB `batch.size` for every topic, so small-segment topics never finished, and
every refused delivery re-read the positions of the whole flow, purging what every other partition
(heartbeats included) had in flight.

What a user notices, and what these tests assert: a topic with 64 KiB segments and a compacted
topic with 2 KiB segments are copied completely and in order; a record larger than the target
allows stops only its own partition, which /status, the metrics and the log name with the reason,
while the other partitions, other topics and heartbeats go on; once the target's limit is raised,
the partition continues from the refused record with nothing skipped. The same holds for a record
the target refuses on delivery for another reason (a null key for a compacted remote topic).
"""

import unittest

from ferry_harness import admin, consume_all, create_topics, produce_all
from test_mirror import MirrorTestCase
from mirror_groups import EAST_CONFIG, FAST, WEST_CONFIG

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource


def values(broker, topic, partitions):
    """{partition: [values in order]}; empty lists while the topic does not exist yet."""
    try:
        got = consume_all(broker, topic, partitions=list(range(partitions)))
    except KafkaException:
        return {p: [] for p in range(partitions)}
    return {p: [m.value() for m in got.get(p, [])] for p in range(partitions)}


class TargetLimitsTest(MirrorTestCase):
    def regions2(self):
        return self.start_broker(EAST_CONFIG), self.start_broker(WEST_CONFIG)

    def test_small_segments_are_replicated_completely(self):
        east, west = self.regions2()
        create_topics(east, "small", partitions=2, config={"segment.bytes": "65536"})
        create_topics(east, "tiny", partitions=1, config={"segment.bytes": "2048", "cleanup.policy": "compact"})
        # ~1 MB backlog in 64 KiB segments, and ~110 KB of unique keys in 2 KiB segments.
        produce_all(east, "small", [{"key": b"k%d" % i, "value": b"small-%05d-" % i + b"x" * 180, "partition": i % 2}
                                    for i in range(5000)], **{"batch.size": 30000})
        produce_all(east, "tiny", [{"key": b"key-%05d" % i, "value": b"tiny-%05d-" % i + b"y" * 80, "partition": 0}
                                   for i in range(1000)], **{"batch.size": 1500})
        want_small, want_tiny = values(east, "small", 2), values(east, "tiny", 1)
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["small", "tiny"], **FAST)])

        def copied():
            got_small, got_tiny = values(west, "east.small", 2), values(west, "east.tiny", 1)
            return got_small == want_small and got_tiny == want_tiny, \
                {t: {p: len(v) for p, v in g.items()} for t, g in (("small", got_small), ("tiny", got_tiny))}

        detail = self.poll_until(copied, 120, "both topics copied completely and in order", interval=2)
        print(f"\ncopied: {detail}")
        log = m.log_text()
        self.assertNotIn("re-reading positions from the target", log, "a refused batch reset the whole flow")
        self.assertNotIn("RECORD_LIST_TOO_LARGE", log.upper().replace(" ", "_"))
        st = m.flow_status("east", "west")
        self.assertFalse([p for p in st["partitions"] if p["error"]], st)
        self.assertFalse([e for e in st["current_errors"] if "refuse" in e], st)

    def test_the_smallest_source_queue_copies_everything_once(self):
        """librdkafka stops fetching once the source consumer's queue reaches queued.min.messages or
        queued.max.messages.kbytes, and the flow wakes it when the queue has drained (docs/mirror.md,
        "Keeping the source consumer fetching"). At the smallest legal limits (1 record, 1 KiB) every
        Fetch response fills the queue, and with 16 KiB per partition per Fetch the 10 MB backlog takes
        hundreds of them: the copy is a long series of fills and wakes. It must still hold every record
        once, in order, and the wakes must show in the metrics. (How much faster the wakes make a copy
        is a benchmark's business, scripts/bench-mirror.sh; here 7.5 s against 23 s without them.)"""
        east, west = self.regions2()
        create_topics(east, "backlog", partitions=3)
        produce_all(east, "backlog", [{"key": b"k%d" % i, "value": b"backlog-%06d-" % i + b"z" * 300,
                                       "partition": i % 3} for i in range(30000)])
        want = values(east, "backlog", 3)
        m = self.start_mirror({"east": {"bootstrap.servers": east.bootstrap,
                                        "client": {"queued.min.messages": 1, "queued.max.messages.kbytes": 1,
                                                   "max.partition.fetch.bytes": 16384}},
                               "west": west},
                              [dict(source="east", target="west", topics=["backlog"], **FAST)])

        def copied():
            got = values(west, "east.backlog", 3)
            return got == want, {p: len(v) for p, v in got.items()}

        detail = self.poll_until(copied, 120, "the backlog copied completely, once and in order", interval=2)
        print(f"\ncopied: {detail}")
        wakes = [float(line.rsplit(" ", 1)[1]) for line in m.metrics_text().splitlines()
                 if line.startswith("ferry_mirror_source_fetch_wakes_total{")]
        print(f"source consumer woken {wakes} time(s)")
        self.assertTrue(wakes and wakes[0] >= 1, wakes)
        # Every delivery acknowledged: /status owes nothing to the source.
        self.poll_until(lambda: (sum(p["lag_records"] for p in m.flow_status("east", "west")["partitions"]
                                     if p["topic"] == "backlog") == 0, None), 30, "no lag left in /status")

    def test_the_smallest_target_queue_still_resumes_exactly_behind_foreign_records(self):
        """A flow resumes after its newest record in the remote partition, found by reading the
        target backwards (mirror/resume.cc). Behind it here: 200,000 records the flow did not write
        (as on a failback's target, which holds what the old primary's applications wrote), read
        through the target's smallest legal queue (1 record, 1 KiB, 16 KiB per Fetch). librdkafka
        stops fetching at every fill and looked again only 1 s later, so this resume took minutes
        (27 s for a failback's 700,000 records in CI, past its 30 s drain); the read is now woken
        like the data path. The flow must resume exactly: every source record once, in order."""
        east, west = self.regions2()
        create_topics(east, "backlog", partitions=1)
        tiny = {"queued.min.messages": 1, "queued.max.messages.kbytes": 1, "max.partition.fetch.bytes": 16384}
        clusters = {"east": east, "west": {"bootstrap.servers": west.bootstrap, "client": tiny}}
        flows = [dict(source="east", target="west", topics=["backlog"], **FAST)]
        produce_all(east, "backlog", [{"value": b"src-%06d" % i, "partition": 0} for i in range(10)])
        m = self.start_mirror(clusters, flows)
        self.poll_until(lambda: (len(values(west, "east.backlog", 1)[0]) == 10, None), 60, "the first 10 copied")
        m.stop()
        produce_all(west, "east.backlog", [{"value": b"foreign-%06d" % i, "partition": 0} for i in range(200000)])
        produce_all(east, "backlog", [{"value": b"src-%06d" % i, "partition": 0} for i in range(10, 1010)])
        m.start()

        def copied():
            got = [v for v in values(west, "east.backlog", 1)[0] if v.startswith(b"src-")]
            return got == [b"src-%06d" % i for i in range(1010)], len(got)

        # ferry-dr's default drain.timeout.seconds is 30: a failback waits this long for the resume.
        self.poll_until(copied, 30, "every source record copied once, in order, behind 200,000 foreign ones",
                        interval=1)

    def test_a_record_over_max_message_bytes_stops_only_its_partition(self):
        east, west = self.regions2()
        create_topics(east, "big", partitions=2)
        create_topics(east, "other", partitions=1)
        # The remote topic exists already with a small limit (the mirror leaves its configs alone).
        create_topics(west, "east.big", partitions=2, config={"max.message.bytes": "2000"})
        small = lambda tag, i: b"%s-%03d" % (tag, i)  # noqa: E731
        p0 = [small(b"p0", i) for i in range(10)] + [b"huge-" + b"z" * 5000] + [small(b"p0", i) for i in range(11, 20)]
        produce_all(east, "big", [{"key": b"a", "value": v, "partition": 0} for v in p0] +
                    [{"key": b"b", "value": small(b"p1", i), "partition": 1} for i in range(20)])
        produce_all(east, "other", [{"value": small(b"o", i)} for i in range(50)])
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["big", "other", "heartbeats"], **FAST)])

        def blocked():
            st = m.flow_status("east", "west")
            parts = {(p["topic"], p["partition"]): p for p in st["partitions"]}
            b0 = parts.get(("big", 0), {})
            got = values(west, "east.big", 2)
            ok = (b0.get("error") is not None and got[1] == [small(b"p1", i) for i in range(20)]
                  and len(values(west, "east.other", 1)[0]) == 50)
            return ok, (st, {p: len(v) for p, v in got.items()})

        st, _ = self.poll_until(blocked, 60, "big-0 reported refused while big-1 and other are copied", interval=1)
        b0 = next(p for p in st["partitions"] if (p["topic"], p["partition"]) == ("big", 0))
        self.assertIn("MESSAGE_TOO_LARGE", b0["error"].upper().replace(" ", "_") + b0["error"], b0)
        self.assertIn("max.message.bytes", b0["error"], b0)
        self.assertEqual(b0["next_offset"], 10, "the partition stops exactly at the refused record")
        self.assertFalse(st["healthy"])
        self.assertTrue(any("big-0" in e for e in st["current_errors"]), st["current_errors"])
        # Nothing after the refused record reached west: no gap a consumer could skip over.
        self.assertEqual(values(west, "east.big", 2)[0], p0[:10])
        self.assertIn("ferry_mirror_partition_refused{", m.metrics_text())
        self.assertRegex(m.log_text(), r"big-0.*(max\.message\.bytes|MESSAGE_TOO_LARGE)")
        self.assertNotIn("re-reading positions from the target", m.log_text())
        # Heartbeats and other topics keep flowing while big-0 is stopped.
        hb = m.flow_status("east", "west")["heartbeat"]["last_replicated_ms"]
        produce_all(east, "other", [{"value": small(b"o", i)} for i in range(50, 60)])
        self.poll_until(lambda: (len(values(west, "east.other", 1)[0]) == 60
                                 and (m.flow_status("east", "west")["heartbeat"]["last_replicated_ms"] or 0) > (hb or 0),
                                 m.flow_status("east", "west")["heartbeat"]),
                        30, "other and heartbeats still replicated")
        # Raise the limit on west: the partition continues from the refused record, nothing skipped.
        res = ConfigResource("topic", "east.big", set_config={"max.message.bytes": "100000"})
        a = admin(west)
        a.alter_configs([res])[res].result(20)
        self.poll_until(lambda: (values(west, "east.big", 2)[0] == p0, len(values(west, "east.big", 2)[0])),
                        90, "big-0 copied completely once the limit allows the record", interval=2)
        self.poll_until(lambda: (m.flow_status("east", "west")["healthy"], m.flow_status("east", "west")["current_errors"]),
                        30, "the flow healthy again")

    def test_a_record_the_target_refuses_on_delivery_stops_only_its_partition_without_a_gap(self):
        # West's east.big is compacted while east's big is not: a record with a null key passes the
        # mirror's size check and west itself refuses it (Kafka: INVALID_RECORD, a compacted topic
        # needs keys). Only big-0 stops, exactly there, and nothing after it reaches west.
        east, west = self.regions2()
        create_topics(east, "big", partitions=2)
        create_topics(west, "east.big", partitions=2, config={"cleanup.policy": "compact"})
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["big"], **FAST)])
        first = [b"first-%03d" % i for i in range(10)]
        produce_all(east, "big", [{"key": v, "value": v, "partition": p} for v in first for p in (0, 1)])
        self.poll_until(lambda: (values(west, "east.big", 2) == {0: first, 1: first}, None), 60, "the first records")
        produce_all(east, "big", [{"value": b"no key", "partition": 0}])

        def refused():
            st = m.flow_status("east", "west")
            b0 = next((p for p in st["partitions"] if (p["topic"], p["partition"]) == ("big", 0)), {})
            return b0.get("error") is not None, b0
        b0 = self.poll_until(refused, 60, "big-0 refused by west")
        self.assertIn("INVALID_RECORD", b0["error"])
        self.assertEqual(b0["next_offset"], 10)
        later = [b"later-%03d" % i for i in range(10)]
        produce_all(east, "big", [{"key": v, "value": v, "partition": p} for v in later for p in (0, 1)])
        self.poll_until(lambda: (values(west, "east.big", 2)[1] == first + later, None), 60, "big-1 goes on")
        self.assertEqual(values(west, "east.big", 2)[0], first, "nothing after the refused record reached west")
        self.assertNotIn("re-reading positions from the target", m.log_text())
        # The operator makes west accept it: tried again within kRefusedRetry, from that record.
        res = ConfigResource("topic", "east.big", set_config={"cleanup.policy": "delete"})
        a = admin(west)
        a.alter_configs([res])[res].result(20)
        want = first + [b"no key"] + later
        self.poll_until(lambda: (values(west, "east.big", 2)[0] == want, len(values(west, "east.big", 2)[0])), 120,
                        "big-0 complete and in order once west accepts the record", interval=2)

if __name__ == "__main__":
    unittest.main()
