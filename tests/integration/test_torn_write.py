"""Torn writes: damage the tail of the active segment of a SIGKILLed broker and check that the
restarted broker recovers exactly the longest valid prefix of record batches.

The expected prefix is computed here, independently of the broker, by walking the batch framing
(baseOffset int64, batchLength int32) and checking magic and CRC-32C of each batch in the damaged
file (kafka_wire.scan_batches). The test sets the broker to not fsync on acks and to checkpoint
recovery points rarely, because damage to data behind a checkpointed recovery point is, by design,
not re-validated (the same contract as Kafka's recovery-point-offset-checkpoint); a torn write can
only hit data that was never flushed.
"""

import os
import random
import re
import shutil
import time
import unittest

import kafka_wire as kw
from ferry_harness import BrokerTestCase, consume_all, create_topics, produce_all

TOPIC = "torn"
ROUNDS = 60
PER_ROUND = 20
SEGMENT_RE = re.compile(r"^(\d{20})\.log$")


def value_at(offset):
    return b"torn-%06d-" % offset + bytes(range(65, 65 + offset % 26))


class TornWriteTest(BrokerTestCase):
    def test_damaged_tail_recovers_to_last_valid_batch(self):
        seed = int(os.environ.get("FERRY_TORN_SEED", time.time_ns() % 2**32))
        print(f"\nFERRY_TORN_SEED={seed}")
        rng = random.Random(seed)
        b = self.start_broker({"log.segment.bytes": 32768, "log.flush.acks.all": False,
                               "log.flush.offset.checkpoint.interval.ms": 3_600_000})
        create_topics(b, TOPIC, partitions=1)
        total = 0
        for _ in range(ROUNDS):  # one produce round trip per round, so many small batches
            produce_all(b, TOPIC, [{"value": value_at(total + i), "partition": 0}
                                   for i in range(PER_ROUND)], acks=1, **{"linger.ms": 0})
            total += PER_ROUND
        b.kill()

        part_dir = os.path.join(b.data_dir, f"{TOPIC}-0")
        segments = sorted(f for f in os.listdir(part_dir) if SEGMENT_RE.match(f))
        self.assertTrue(segments, f"no <20-digit offset>.log segment in {part_dir}: {os.listdir(part_dir)}")
        active = os.path.join(part_dir, segments[-1])
        active_base = int(segments[-1][:20])
        with open(active, "rb") as f:
            original = f.read()
        batches, end = kw.scan_batches(original)
        self.assertEqual(end, len(original), "undamaged active segment does not parse as batches")
        self.assertGreaterEqual(len(batches), 3, "test needs several batches in the active segment")
        self.assertEqual(batches[-1]["last_offset"], total - 1)

        pristine = os.path.join(b.tmpdir, "pristine")
        shutil.copytree(b.data_dir, pristine)

        last = batches[-1]
        boundaries = {bt["pos"] for bt in batches} | {len(original)}
        cases = []
        for _ in range(4):
            cut = rng.randrange(1, len(original))
            while cut in boundaries:
                cut = rng.randrange(1, len(original))
            cases.append((f"truncate at byte {cut} of {len(original)}", original[:cut]))
        cases.append(("truncate inside the last batch's length field", original[:last["pos"] + 10]))
        for field, lo, hi in (("records", kw.RECORD_BATCH_HEADER_SIZE, last["size"]),
                              ("header", kw.CRC_COVERED_FROM, kw.RECORD_BATCH_HEADER_SIZE),
                              ("crc", kw.CRC_FIELD_OFFSET, kw.CRC_COVERED_FROM),
                              ("magic", 16, 17)):
            damaged = bytearray(original)
            for _ in range(rng.randint(1, 3)):
                pos = last["pos"] + rng.randrange(lo, hi)
                damaged[pos] ^= rng.randint(1, 255)
            cases.append((f"flip bytes in the last batch's {field}", bytes(damaged)))

        for name, damaged in cases:
            with self.subTest(case=name):
                self.check_recovery(b, pristine, active, active_base, name, damaged)

    def check_recovery(self, b, pristine, active, active_base, name, damaged):
        shutil.rmtree(b.data_dir)
        shutil.copytree(pristine, b.data_dir)
        with open(active, "wb") as f:
            f.write(damaged)
        valid, valid_end = kw.scan_batches(damaged)
        expected_end = valid[-1]["last_offset"] + 1 if valid else active_base
        print(f"  {name}: expect offsets 0..{expected_end - 1}, {len(damaged) - valid_end} bytes to drop")

        b.start()
        try:
            got = consume_all(b, TOPIC)[0]
            self.assertEqual(len(got), expected_end, "records after recovery")
            self.assertEqual([m.offset() for m in got], list(range(expected_end)))
            self.assertEqual([m.value() for m in got], [value_at(o) for o in range(expected_end)])
            if valid_end < len(damaged):
                self.assertRegex(b.log_since_start(), re.compile("truncat", re.I),
                                 "broker log does not mention truncating the damaged tail")
            after = produce_all(b, TOPIC, [{"value": b"after-recovery", "partition": 0}])
            self.assertEqual(after[0].offset(), expected_end, "produce after recovery")
            got = consume_all(b, TOPIC)[0]
            self.assertEqual(got[-1].offset(), expected_end)
            self.assertEqual(got[-1].value(), b"after-recovery")
        finally:
            b.kill()


if __name__ == "__main__":
    unittest.main()
