"""Graceful shutdown: SIGTERM while a producer is streaming makes ferry-broker exit 0 promptly,
and every record it acknowledged is there after a restart."""

import unittest

from ferry_harness import BrokerTestCase, consume_all, create_topics
from streaming import StreamingProducer, check_acked_survived

N = 20_000
EXIT_BOUND_S = 30


class ShutdownTest(BrokerTestCase):
    def test_sigterm_under_load_exits_zero_and_keeps_acked_records(self):
        b = self.start_broker()
        topic = "shutdown-stream"
        create_topics(b, topic, partitions=2)
        sp = StreamingProducer(b, topic, N, gate_at=N * 3 // 4)
        sp.start()
        self.addCleanup(sp.finish)
        sp.wait_for_acks(N // 4)
        rc = b.stop(timeout=EXIT_BOUND_S)  # SIGTERM; SIGKILL only after the bound
        self.assertEqual(rc, 0, "broker exit status after SIGTERM (negative = killed by signal)")
        sp.release()
        sp.finish()
        self.assertLess(len(sp.acked), N)

        b.start()
        stored = check_acked_survived(self, consume_all(b, topic), sp.acked)
        print(f"\n{len(sp.acked)} acknowledged, {stored} stored of {N}")

    def test_sigterm_when_idle_exits_zero(self):
        b = self.start_broker()
        create_topics(b, "shutdown-idle", partitions=1)
        self.assertEqual(b.stop(timeout=EXIT_BOUND_S), 0)
        # And it comes back with the topic.
        b.start()
        consumed = consume_all(b, "shutdown-idle")
        self.assertEqual(consumed, {0: []})


if __name__ == "__main__":
    unittest.main()
