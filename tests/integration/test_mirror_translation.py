"""Pins issue 13 defect 1: a ferry-mirror restarted without offset-sync history (the
syncs topic deleted, or a SIGKILL before the first sync landed) translated every older committed
offset to the restart point, so a group cutting over to the target skipped records, and nothing was
logged. Two regions ("east" -> "west", two ferry-broker processes on loopback), real clients, the
mirror really SIGKILLed; judged by translation_check (checkpoints, synced group offsets and a
consumer on west reading on, against the exact answer computed from what the brokers hold).

West's remote partitions hold foreign records written before the mirror starts, so a translation
that returns its input (or an identity-looking offset) fails. FERRY_MIRROR_SEED replays the random
choices (printed by test_mirror's import).
"""

import random
import time
import unittest

from ferry_harness import admin, consume_all, create_topics, produce_all, watermarks
from test_mirror import SEED, KeyedStream, MirrorTestCase
from mirror_groups import EAST_CONFIG, FAST, WEST_CONFIG, commit_standalone, write_foreign
from translation_check import check_group, delete_records, flow_caught_up, offset_syncs, wait

SYNCS = "mm2-offset-syncs.west.internal"
# The broker's minimum session, so a killed mirror's partitions are free again after ~6 s.
EAST_CLIENT = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}


def compacted_with_gaps(east, topic, parts, n, rng):
    """Writes n records per partition of compacted `topic`: mostly updates of 10 hot keys, a fifth
    written once; the first offsets are always hot, so the cleaner leaves the partition starting
    above 0 and full of gaps. Waits until the cleaner removed at least a third of every partition
    and returns {p: [surviving offsets]}."""
    def key(p, i):
        return b"once-%d-%d" % (p, i) if i >= 5 and rng.random() < 0.2 else b"hot-%d-%d" % (p, rng.randrange(10))

    produce_all(east, topic, [{"key": key(p, i), "value": b"%s-%d-%05d" % (topic.encode(), p, i), "partition": p}
                              for i in range(n) for p in range(parts)], **{"batch.size": 4000})

    def cleaned():
        got = consume_all(east, topic, partitions=list(range(parts)))
        left = {p: [m.offset() for m in got[p]] for p in got}
        return all(len(v) < n * 2 // 3 and v and v[0] > 0 for v in left.values()), left

    return wait(cleaned, 60, f"east's cleaner to compact {topic}")


class TranslationAfterRestartTest(MirrorTestCase):
    def regions2(self):
        east, west = self.start_broker(EAST_CONFIG), self.start_broker(WEST_CONFIG)
        return east, west

    def assert_exact(self, east, west, group, commits, partitions, mirror):
        failures, counts = check_group(east, west, "east", group, commits, partitions)
        self.assertFalse(failures, "\n".join(failures[:20]) + f"\n{group} committed on east: {commits}; "
                         "mirror log tail:\n" + mirror.log_tail(30))
        return counts

    def test_a_restart_after_the_offset_syncs_topic_was_deleted(self):
        east, west = self.regions2()
        create_topics(east, "accounts", partitions=1)
        create_topics(west, "east.accounts", partitions=1)
        write_foreign(west, "east.accounts", [7], "before")
        produce_all(east, "accounts", [{"key": b"k%d" % i, "value": b"account-%05d" % i, "partition": 0}
                                       for i in range(3000)])
        m = self.start_mirror({"east": east, "west": west}, [dict(source="east", target="west",
                                                                  topics=["accounts"], **FAST)])
        wait(lambda: flow_caught_up(m, east, "east", "west", {"accounts": 1}), 90, "the mirror to copy accounts")
        self.assertEqual(m.stop(), 0, m.log_tail())
        a = admin(east)
        a.delete_topics([SYNCS], operation_timeout=10)[SYNCS].result(20)
        commit_standalone(east, "late-readers", {("accounts", 0): 5})
        m.start()
        counts = self.assert_exact(east, west, "late-readers", {("accounts", 0): 5}, {"accounts": 1}, m)
        self.assertEqual(counts["checked"], 1)
        self.assertIn("translation rebuilt from", m.log_since_start(), "a rebuild from the target is logged")

    def test_b_sigkill_before_the_first_offset_sync_then_restart(self):
        rng = random.Random(SEED + 1300)
        east, west = self.regions2()
        create_topics(east, "accounts", partitions=4)
        create_topics(east, "balances", partitions=3,
                      config={"cleanup.policy": "compact", "segment.ms": "300", "segment.bytes": "16384"})
        # Plain remote topics: west keeps every copied record, so the exact answer stays computable.
        create_topics(west, "east.accounts", partitions=4)
        create_topics(west, "east.balances", partitions=3)
        write_foreign(west, "east.accounts", [3, 11, 1, 6], "before")
        write_foreign(west, "east.balances", [5, 2, 9], "before")
        survivors = compacted_with_gaps(east, "balances", 3, 400, rng)
        produce_all(east, "accounts", [{"key": b"a%d" % i, "value": b"accounts-%d-%05d" % (p, i), "partition": p}
                                       for i in range(300) for p in range(4)])
        stream = KeyedStream(east, "accounts", 4, rate=1500, tag="live")
        stream.start()
        self.addCleanup(stream.stop)
        clusters = {"east": {"bootstrap.servers": east.bootstrap, "client": EAST_CLIENT}, "west": west}
        m = self.start_mirror(clusters, [dict(source="east", target="west", topics=["accounts", "balances"], **FAST)])
        # SIGKILL at the first instant west holds a copied record of every topic: no pause before it.
        foreign = {"east.accounts": 3 + 11 + 1 + 6, "east.balances": 5 + 2 + 9}

        def copying():
            n = {t: sum(watermarks(west, t, p)[1] for p in range(parts)) - foreign[t]
                 for t, parts in (("east.accounts", 4), ("east.balances", 3))}
            return all(v > 0 for v in n.values()), n

        wait(copying, 60, "the mirror to start copying", interval=0.02)
        m.kill()
        syncs = {t: offset_syncs(east, "west", t) for t in ("accounts", "balances")}
        if any(syncs.values()):
            # The kill came after some syncs landed (a busy machine): drop them, so the restart
            # finds what a kill before the first sync leaves, no sync for the copied records.
            delete_records(east, SYNCS, 0, watermarks(east, SYNCS, 0)[1])
        copied = {p: watermarks(west, "east.balances", p)[1] for p in range(3)}
        # Commits far behind the kill point, inside compaction gaps, below the first record, and at
        # the end of a partition.
        gaps = {}
        for p, s in survivors.items():
            holes = [(a, b) for a, b in zip(s, s[1:]) if b - a > 1]
            gaps[p] = rng.randrange(holes[0][0] + 1, holes[0][1]) if holes else s[0]
        commits = {("accounts", 0): 5, ("accounts", 1): 1, ("accounts", 2): 117, ("accounts", 3): 0,
                   ("balances", 0): gaps[0], ("balances", 1): 0,
                   ("balances", 2): watermarks(east, "balances", 2)[1]}
        commit_standalone(east, "cutover", commits)
        m.start()
        time.sleep(2)
        stream.stop()
        wait(lambda: flow_caught_up(m, east, "east", "west", {"accounts": 4, "balances": 3}), 120,
             "the restarted mirror to catch up")
        counts = self.assert_exact(east, west, "cutover", commits, {"accounts": 4, "balances": 3}, m)
        print(f"\nkilled with west holding {copied} balances records (foreign included) and "
              f"offset syncs {syncs} (dropped before the restart when any); {counts}")


if __name__ == "__main__":
    unittest.main()
