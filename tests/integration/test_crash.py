"""Crash durability: SIGKILL ferry-broker in the middle of an acks=all stream, restart it, and
check that every record the broker acknowledged is there exactly once, where it was acknowledged."""

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


if __name__ == "__main__":
    unittest.main()
