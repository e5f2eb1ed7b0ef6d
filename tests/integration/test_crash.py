"""Crash durability: SIGKILL ferry-broker in the middle of an acks=all stream, restart it, and
check that every record the broker acknowledged is there exactly once, where it was acknowledged."""

import os
import unittest

from ferry_harness import BrokerTestCase, consume_all, create_topics
from streaming import StreamingProducer, check_acked_survived

N = 20_000


class CrashTest(BrokerTestCase):
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

        sp = StreamingProducer(b, topic, N, gate_at=N * 3 // 4)
        sp.start()
        self.addCleanup(sp.finish)
        sp.wait_for_acks(N // 4)
        b.kill()
        sp.release()
        sp.finish()
        self.assertLess(len(sp.acked), N, "the whole stream was acknowledged before the kill")

        b.start()
        consumed = consume_all(b, topic)
        check_acked_survived(self, consumed, sp.acked)
        self.assertEqual({d: sorted(e for e in os.listdir(d) if e.startswith(topic + "-")) for d in dirs}, placed,
                         "a restart reopens each partition where it was")


if __name__ == "__main__":
    unittest.main()
