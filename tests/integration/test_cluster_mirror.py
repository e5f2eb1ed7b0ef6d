"""ferry-mirror reading from a region of three brokers whose leaders die and come back, under an
idempotent acks=all producer: the mirror keeps running (in the three-broker quickstart it died of
SIGSEGV inside librdkafka 2.0.2 right after a killed broker returned: a ListOffsets that had timed
out against the dead leader got its late answer on a freed stack frame; list_offsets now speaks
ListOffsets itself), and the target ends with every acknowledged record exactly once.
"""

import collections
import sys
import time
import unittest

from cluster_faults import Region, Workload, new_topic, read_log
from ferry_harness import BrokerTestCase, consume_all, mirror_binary, wait_until

PARTITIONS = 3


class ClusterMirrorTest(BrokerTestCase):
    def setUp(self):
        mirror_binary()  # skip before starting anything when FERRY_MIRROR is not set

    def test_source_leaders_die_and_return_and_the_mirror_copies_everything_once(self):
        east = Region()
        self.addCleanup(east.close)
        self.__dict__.setdefault("_processes", []).extend(east.brokers)
        west = self.start_broker({"group.initial.rebalance.delay.ms": 0})
        topic = new_topic(east, "orders", partitions=PARTITIONS)
        mirror = self.start_mirror({"east": east.bootstrap, "west": west},
                                   [{"source": "east", "target": "west", "topics": [topic],
                                     "refresh.topics.interval.seconds": 1}])
        work = Workload(east, topic)
        work.wait_acked(2000)
        for round_ in range(3):
            victim = east.broker(east.leader(topic, round_ % PARTITIONS))
            victim.kill()
            for p in range(PARTITIONS):
                east.wait_leader(topic, p, not_in=(victim.node_id,))
            # Long enough for the mirror's end-offset queries to the dead leader to time out; its
            # return then answers them late (NOT_LEADER_OR_FOLLOWER): the moment of the old crash.
            work.wait_acked(2000, timeout=60)
            time.sleep(4)
            victim.start()
            for p in range(PARTITIONS):
                east.wait_isr(topic, 3, p, timeout=60)
            work.wait_acked(1000, timeout=60)
            self.assertTrue(mirror.running(), f"ferry-mirror died in round {round_ + 1}:\n{mirror.log_tail()}")
        work.stop()
        self.assertEqual([str(e) for e in work.errors], [])
        source = read_log(east, topic, PARTITIONS)
        acked = {v for v, _ in work.acked}
        self.assertFalse(acked - set(source), "acknowledged records missing from the source")

        def copied():
            got = consume_all(west, f"east.{topic}", partitions=list(range(PARTITIONS)), timeout=60)
            return [m.value() for p in range(PARTITIONS) for m in got[p]]
        wait_until(lambda: len(copied()) >= len(source), timeout=120, what="the mirror to copy the source")
        target = copied()
        duplicated = sum(n - 1 for n in collections.Counter(target).values() if n > 1)
        print(f"\n{self.id()}: source {len(source)} records, target {len(target)}, duplicated {duplicated}",
              file=sys.stderr)
        self.assertEqual(collections.Counter(target), collections.Counter(source))
        self.assertTrue(mirror.running())


if __name__ == "__main__":
    unittest.main()
