"""Crash durability: SIGKILL ferry-broker in the middle of an acks=all stream, restart it, and
check that every record the broker acknowledged is there exactly once, where it was acknowledged."""

import os
import random
import time
import unittest

from ferry_harness import BrokerTestCase, consume_all, create_topics, wait_until
from streaming import StreamingProducer, check_acked_survived

N = 20_000


class CrashTest(BrokerTestCase):
    def sigkill_mid_stream(self, b, topic, acked_before_kill, **conf):
        """Streams N acks=all records to `topic`, SIGKILLs broker `b` once `acked_before_kill`
        are acknowledged (the stream is held at 3/4 until then, so the kill is mid-stream) and
        returns the finished StreamingProducer."""
        sp = StreamingProducer(b, topic, N, gate_at=N * 3 // 4, **conf)
        sp.start()
        self.addCleanup(sp.finish)
        sp.wait_for_acks(acked_before_kill)
        b.kill()
        sp.release()
        sp.finish()
        self.assertLess(len(sp.acked), N, "the whole stream was acknowledged before the kill")
        return sp

    def test_sigkill_mid_stream_keeps_every_acknowledged_record(self):
        b = self.start_broker()
        topic = "crash-stream"
        create_topics(b, topic, partitions=3)
        # The gate holds the stream at 3/4 until the kill, so the kill always lands mid-stream.
        sp = StreamingProducer(b, topic, N, gate_at=N * 3 // 4)
        sp.start()
        self.addCleanup(sp.finish)
        sp.wait_for_acks(N // 4)
        b.kill()
        acked_at_kill = len(sp.acked)
        sp.release()
        sp.finish()
        self.assertLess(len(sp.acked), N, "the whole stream was acknowledged before the kill")
        self.assertGreaterEqual(len(sp.acked), acked_at_kill)

        b.start()
        consumed = consume_all(b, topic)
        stored = check_acked_survived(self, consumed, sp.acked)
        print(f"\n{len(sp.acked)} acknowledged, {stored} stored, {len(sp.failed)} failed of {N}")

        # The restarted broker keeps appending after the recovered end.
        ends = {p: len(msgs) for p, msgs in consumed.items()}
        tail = StreamingProducer(b, topic, 30)
        tail.start()
        tail.wait_for_acks(30)
        tail.finish()
        new_offsets = {}
        for part, off in tail.acked.values():
            new_offsets.setdefault(part, []).append(off)
        for part, offs in new_offsets.items():
            self.assertEqual(sorted(offs), list(range(ends[part], ends[part] + len(offs))),
                             f"partition {part} did not continue at offset {ends[part]}")

    def test_two_log_dirs_share_a_new_topic_and_recover_together_after_sigkill(self):
        """JBOD: a new topic's partitions spread over both log.dirs (the fewest-partitions rule
        counts the ones being created), and after a SIGKILL mid-stream the logs of both dirs are
        recovered (on num.recovery.threads.per.data.dir threads each) with every acknowledged
        record in place."""
        b = self.start_broker(start=False)
        dirs = [b.data_dir + "-a", b.data_dir + "-b"]
        b.config["log.dirs"] = dirs
        b.config["num.recovery.threads.per.data.dir"] = 2
        b.write_config()
        b.start()
        topic = "jbod-stream"
        create_topics(b, topic, partitions=6)
        placed = {d: sorted(e for e in os.listdir(d) if e.startswith(topic + "-")) for d in dirs}
        self.assertEqual([len(v) for v in placed.values()], [3, 3], placed)

        sp = self.sigkill_mid_stream(b, topic, acked_before_kill=N // 4)

        b.start()
        consumed = consume_all(b, topic)
        check_acked_survived(self, consumed, sp.acked)
        self.assertEqual({d: sorted(e for e in os.listdir(d) if e.startswith(topic + "-")) for d in dirs}, placed,
                         "a restart reopens each partition where it was")

    def test_sigkill_during_recovery_then_restart_loses_nothing(self):
        """A crash while the broker is still recovering from a crash. SIGKILLs land at seeded
        instants while the logs load: 1,040 partitions, 4 KiB segments, a stale recovery-point
        checkpoint (so recovery re-validates every segment), 4 recovery threads. The next start,
        on one recovery thread, must still find every acknowledged record, exactly once, where
        it was acknowledged."""
        seed = random.randrange(1 << 30)
        rng = random.Random(seed)
        b = self.start_broker(start=False)
        b.config["log.segment.bytes"] = 4096
        b.config["num.recovery.threads.per.data.dir"] = 4
        b.config["log.flush.offset.checkpoint.interval.ms"] = 3_600_000
        b.write_config()
        b.start()
        topic = "crash-in-recovery"
        create_topics(b, topic, partitions=40)
        create_topics(b, [f"idle-{i:02d}" for i in range(20)], partitions=50, timeout=60)
        # Batches well under a segment (a batch larger than segment.bytes is refused).
        sp = self.sigkill_mid_stream(b, topic, acked_before_kill=N // 2, **{"batch.size": 1024})
        segments = sum(1 for _, _, files in os.walk(b.data_dir) for f in files if f.endswith(".log"))

        # Loading these logs takes 0.07-0.25 s on the 2-core test VM: the kills aim at the
        # start of that window, the first at its first instant.
        kills, during = 6, 0
        for attempt in range(kills):
            b.spawn()
            wait_until(lambda: "open files limit" in b.log_since_start() or not b.running(), 30, interval=0.002,
                       what="the broker to begin loading its logs")
            if attempt > 0:
                time.sleep(rng.uniform(0, 0.08))
            b.kill()
            log = b.log_since_start()
            if "open files limit" in log and "partitions in" not in log:
                during += 1
        # The last recovery runs on one thread, the smallest legal setting.
        b.config["num.recovery.threads.per.data.dir"] = 1
        b.write_config()
        b.start()
        loaded = [l for l in b.log_since_start().splitlines() if "partitions in" in l]
        print(f"\nseed {seed}: {len(sp.acked)} acknowledged, {segments} segments; {during} of {kills} kills "
              f"landed while the logs loaded; then {loaded[-1].split('] ')[-1] if loaded else '?'}")
        self.assertGreaterEqual(during, 1, f"seed {seed}: no kill landed while the logs loaded")
        consumed = consume_all(b, topic)
        check_acked_survived(self, consumed, sp.acked)


if __name__ == "__main__":
    unittest.main()
