"""One broker with 10,000 partitions (issue 16, item 4), as a user would run it: 100 topics of
100 partitions created through CreateTopics, then SIGKILL and restart. Every record must come
back, and the broker must do it within an open-files limit of 15,000 (soft and hard, so it cannot
raise it):
- the old broker held three descriptors per partition (the log and both indexes of the active
  segment) and failed at about 6,600 partitions with KAFKA_STORAGE_ERROR "Too many open files";
- it then held one per segment, so the smallest segments Kafka allows (every record rolls a new
  one: three rounds make 30,000 segments) failed the same way. Only the active segment keeps its
  descriptor now.
Timings and memory are printed, not asserted (they belong to benchmarks)."""

import os
import random
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ferry_harness import BrokerTestCase

TOPICS, PARTITIONS = 100, 100
NOFILE = 15000
# Rounds of one record per partition in the broker test: with segment.bytes this small each
# record is its own segment, so the partitions end with ROUNDS segments each.
ROUNDS = 3
TINY_SEGMENT_BYTES = "100"
# Chooses when the mirror is SIGKILLed during its takeover; printed so a failure can be replayed.
SEED = int(os.environ.get("FERRY_SCALE_SEED", random.randrange(1 << 30)))


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class TenThousandPartitionsTest(BrokerTestCase):
    def test_10000_partitions_of_tiny_segments_survive_sigkill_within_15000_open_files(self):
        b = self.start_broker({"offsets.topic.num.partitions": 1}, start=False)
        b.nofile_limit = NOFILE
        b.start()
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        t0 = time.monotonic()
        futures = a.create_topics([NewTopic(f"s{i:03d}", PARTITIONS, 1, config={"segment.bytes": TINY_SEGMENT_BYTES})
                                   for i in range(TOPICS)], operation_timeout=120)
        for name, f in futures.items():
            f.result(300)
        created = time.monotonic() - t0

        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 20, "acks": "all"})
        t0 = time.monotonic()
        for r in range(ROUNDS):
            for i in range(TOPICS):
                for part in range(PARTITIONS):
                    p.produce(f"s{i:03d}", key=f"{i}/{part}".encode(), value=f"r{r}/{i}/{part}".encode(),
                              partition=part)
                p.poll(0)
            self.assertEqual(p.flush(300), 0, f"every record of round {r} acknowledged")
        produced = time.monotonic() - t0
        del p, a  # no client reconnecting through the restart below
        segments = sum(1 for i in range(TOPICS) for part in range(PARTITIONS)
                       for f in os.listdir(os.path.join(b.data_dir, f"s{i:03d}-{part}")) if f.endswith(".log"))
        self.assertGreaterEqual(segments, TOPICS * PARTITIONS * ROUNDS, "each record rolled its own segment")
        fds_before = open_files(b.pid)
        self.assertLess(fds_before, NOFILE)

        b.kill()
        t0 = time.monotonic()
        b.start(timeout=120)
        restarted = time.monotonic() - t0
        fds_restarted = open_files(b.pid)

        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "scale-check",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100})
        c.assign([TopicPartition(f"s{i:03d}", part, 0) for i in range(TOPICS) for part in range(PARTITIONS)])
        seen = {}
        count = 0
        deadline = time.monotonic() + 240
        while count < TOPICS * PARTITIONS * ROUNDS and time.monotonic() < deadline:
            for m in c.consume(1000, 1.0):
                self.assertIsNone(m.error(), m.error())
                seen.setdefault((m.topic(), m.partition()), []).append((m.key(), m.value(), m.offset()))
                count += 1
        c.close()
        for i in range(TOPICS):
            for part in range(PARTITIONS):
                self.assertEqual(seen.get((f"s{i:03d}", part)),
                                 [(f"{i}/{part}".encode(), f"r{r}/{i}/{part}".encode(), r) for r in range(ROUNDS)],
                                 f"s{i:03d}-{part} ({count} records read in all)")
        fds_after = open_files(b.pid)
        self.assertLess(fds_after, NOFILE)
        print(f"\n10,000 partitions, {segments} segments: created in {created:.1f} s, {ROUNDS} rounds produced in "
              f"{produced:.1f} s, restarted after SIGKILL in {restarted:.1f} s; open files: {fds_before} before the "
              f"kill, {fds_restarted} after the restart, {fds_after} after reading every segment; "
              f"RSS {b.rss_kib() // 1024} MiB")


class MirrorTenThousandPartitionsTest(BrokerTestCase):
    def produce_one_each(self, broker, round_):
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "acks": "all"})
        for i in range(TOPICS):
            for part in range(PARTITIONS):
                p.produce(f"s{i:03d}", value=f"r{round_}/{i}/{part}".encode(), partition=part)
            p.poll(0)
        self.assertEqual(p.flush(120), 0, "every record acknowledged")

    def wait_copied(self, m, west, rounds, t0, timeout=240):
        """Waits until west holds `rounds` records per remote partition; returns (seconds to the
        first new record, seconds to all) from `t0`, or fails with what is missing."""
        c = Consumer({"bootstrap.servers": west.bootstrap, "group.id": "scale-check",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100})
        c.assign([TopicPartition(f"east.s{i:03d}", part, 0) for i in range(TOPICS) for part in range(PARTITIONS)])
        seen = {}
        first = None
        deadline = time.monotonic() + timeout
        total = TOPICS * PARTITIONS * rounds
        count = 0
        while count < total and time.monotonic() < deadline:
            for r in c.consume(1000, 1.0):
                self.assertIsNone(r.error(), r.error())
                seen.setdefault((r.topic(), r.partition()), []).append(r.value())
                count += 1
                if first is None and r.value().startswith(f"r{rounds - 1}/".encode()):
                    first = time.monotonic() - t0
        c.close()
        took = time.monotonic() - t0
        for i in range(TOPICS):
            for part in range(PARTITIONS):
                self.assertEqual(seen.get((f"east.s{i:03d}", part)),
                                 [f"r{r}/{i}/{part}".encode() for r in range(rounds)],
                                 f"east.s{i:03d}-{part} after {took:.0f} s; mirror log tail:\n" + m.log_tail())
        return first, took

    def test_mirror_copies_10000_partitions_and_resumes_after_sigkill(self):
        """A mirror whose flow holds 10,000 source partitions copies one record from each, is
        SIGKILLed, and after a restart copies one more from each, exactly once: the restart reads
        every partition's resume point and translation from the target. Then a third round
        survives a SIGKILL at the first instant of a restart and another during the takeover."""
        east = self.start_broker({"offsets.topic.num.partitions": 1}, start=False)
        east.nofile_limit = NOFILE
        east.start()
        west = self.start_broker({"offsets.topic.num.partitions": 1}, start=False, node_id=2)
        west.nofile_limit = NOFILE
        west.start()
        a = AdminClient({"bootstrap.servers": east.bootstrap})
        for name, f in a.create_topics([NewTopic(f"s{i:03d}", PARTITIONS, 1) for i in range(TOPICS)],
                                       operation_timeout=120).items():
            f.result(300)
        del a
        self.produce_one_each(east, 0)

        t0 = time.monotonic()
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["s.*"])])
        first0, all0 = self.wait_copied(m, west, 1, t0)
        m.kill()
        self.produce_one_each(east, 1)
        t0 = time.monotonic()
        m.start()
        first1, all1 = self.wait_copied(m, west, 2, t0)
        self.assertNotIn("assignment lost", m.log_text())
        # What the mirror costs while idle over 10,000 partitions (its ends thread reads every
        # partition's log end offset continuously): printed, not asserted.
        tick = os.sysconf("SC_CLK_TCK")
        def cpu_s():
            with open(f"/proc/{m.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick
        # The first ~10 s after the copy one librdkafka broker thread is still busy (0.8 cores
        # measured); the steady state comes after.
        c0, w0 = cpu_s(), time.monotonic()
        time.sleep(10)
        settling_cores = (cpu_s() - c0) / (time.monotonic() - w0)
        c0, w0 = cpu_s(), time.monotonic()
        time.sleep(10)
        idle_cores = (cpu_s() - c0) / (time.monotonic() - w0)
        print(f"\nmirror over 10,000 partitions: first start: first record on the target after {first0:.1f} s, "
              f"all after {all0:.1f} s; after SIGKILL: {first1:.1f} s, {all1:.1f} s; "
              f"mirror RSS {m.rss_kib() // 1024} MiB, {settling_cores:.2f} cores in the 10 s after the copy, "
              f"{idle_cores:.2f} cores in the 10 s after that (idle)")

        # SIGKILL at the very first instant of a restart (nothing read, no offset sync written),
        # then again in the middle of the batched takeover; the third incarnation must still copy
        # the new round exactly once.
        rng = random.Random(SEED)
        delay = rng.uniform(0.0, 8.0)
        print(f"FERRY_SCALE_SEED={SEED}: second kill {delay:.1f} s into the takeover")
        m.kill()
        self.produce_one_each(east, 2)
        m.start()
        m.kill()
        m.start()
        time.sleep(delay)
        m.kill()
        t0 = time.monotonic()
        m.start()
        first2, all2 = self.wait_copied(m, west, 3, t0)
        print(f"after a kill at start and one {delay:.1f} s into the takeover: first new record after {first2:.1f} s, "
              f"all after {all2:.1f} s")
