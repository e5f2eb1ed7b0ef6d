"""Pins issue 13 defect 8 (last item): consumer-group members lost their sessions on a
busy machine although their clients kept heartbeating. Cause: with log.flush.acks.all (the
default) an OffsetCommit is answered only once its records are fsynced, responses on a connection
go in request order, and librdkafka keeps one heartbeat in flight and sends the next only after
its response, so while a slow fsync held a member's commit, its heartbeats could not reach the
broker and its session expired mid-commit: a rebalance, and records delivered twice.

The test gives the broker a disk whose every fsync takes longer than the group's session timeout
(slow_fsync.c, preloaded into the broker), and checks what a user sees: one assignment for the whole run,
every record consumed once, every commit accepted.

It also holds the Produce side of a slow disk: an acks=all produce to many partitions whose fsync
outlasts the request's timeout_ms is answered REQUEST_TIMED_OUT for every partition.
"""

import os
import subprocess
import time
import unittest

from confluent_kafka import Consumer

import kafka_wire as kw
from ferry_harness import BrokerTestCase, Broker, create_topics, produce_all

SESSION_MS = 6000  # the broker's group.min.session.timeout.ms
FSYNC_S = 7.5      # every fsync takes longer than a session


def slow_disk_broker(test, config):
    """A broker started with slow_fsync.c preloaded: its fsync and fdatasync sleep for the seconds
    last given to set_delay (0 at start). Returns (broker, set_delay); both are cleaned up with
    `test`. broker.most_overlapping_fsyncs() tells the most delayed calls ever in progress at once."""
    tmp = test.enterContext(_TempDir())
    shim = os.path.join(tmp, "slow_fsync.so")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", shim,
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_fsync.c"), "-ldl"], check=True)
    delay_file = os.path.join(tmp, "fsync-delay")

    def set_delay(seconds):
        with open(delay_file + ".tmp", "w") as f:
            f.write(str(seconds))
        os.replace(delay_file + ".tmp", delay_file)
    set_delay(0)
    max_file = os.path.join(tmp, "fsync-most-at-once")
    broker = Broker(config, env={"LD_PRELOAD": shim, "FERRY_SLOW_FSYNC_FILE": delay_file,
                                 "FERRY_SLOW_FSYNC_MAX_FILE": max_file})
    test.addCleanup(broker.close)

    def most_overlapping_fsyncs():
        try:
            with open(max_file) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0
    broker.most_overlapping_fsyncs = most_overlapping_fsyncs
    return broker, set_delay


class SlowDiskGroupTest(BrokerTestCase):
    def test_a_member_keeps_its_session_on_a_disk_slower_than_its_session_timeout(self):
        broker, set_delay = slow_disk_broker(self, {"group.initial.rebalance.delay.ms": 0})
        create_topics(broker, "t", partitions=1)
        produce_all(broker, "t", [{"key": b"k%d" % i, "value": b"v-%03d" % i} for i in range(100)])
        assignments, revocations = [], []
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "slow", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_MS,
                      "heartbeat.interval.ms": 500})
        self.addCleanup(c.close)
        c.subscribe(["t"], on_assign=lambda _, ps: assignments.append(len(ps)),
                    on_revoke=lambda _, ps: revocations.append(len(ps)))
        seen, commits, errors = [], 0, []
        while not assignments:
            m = c.poll(0.2)
            if m is not None and not m.error():
                seen.append(m.value())
        set_delay(FSYNC_S)
        deadline = time.monotonic() + 120
        while len(seen) < 100 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(str(m.error()))
                continue
            seen.append(m.value())
            if len(seen) % 50 == 0:  # two commits, each waiting for a slow fsync
                c.commit(message=m, asynchronous=False)
                commits += 1
        # Stay in the group one more slow fsync's worth: a lost session shows up as a revocation.
        end = time.monotonic() + FSYNC_S
        while time.monotonic() < end:
            c.poll(0.5)
        set_delay(0)
        self.assertEqual(sorted(seen), [b"v-%03d" % i for i in range(100)],
                         f"every record once; consumer errors {errors[:5]}; broker log:\n" + broker.log_tail(30))
        self.assertEqual(commits, 2)
        self.assertEqual((assignments, revocations), ([1], []),
                         "the member lost its session while its commit waited for fsync:\n" + broker.log_tail(20))
        self.assertNotIn("removing member", broker.log_text())


class _TempDir:
    def __enter__(self):
        import tempfile
        self.d = tempfile.mkdtemp(prefix="ferry-slowdisk-")
        return self.d

    def __exit__(self, *exc):
        import shutil
        shutil.rmtree(self.d, ignore_errors=True)


class SlowDiskProduceTest(BrokerTestCase):
    def produce_one_each(self, broker, topic, partitions, timeout_ms):
        """One acks=all Produce request (v3) with a one-record batch for each of `partitions`;
        returns {(topic, partition): error code}, failing with the broker's log tail if the
        connection drops."""
        batch = kw.record_batch([(b"k", b"v")])
        body = (kw.string(None) + kw.i16(-1) + kw.i32(timeout_ms)
                + kw.array([kw.string(topic) + kw.array([kw.i32(p) + kw.nbytes(batch) for p in range(partitions)])]))
        with kw.Connection("127.0.0.1", broker.port) as c:
            try:
                return kw.parse_produce_response(c.request(0, 3, body))
            except ConnectionError as e:
                self.fail(f"{e}; broker log:\n" + broker.log_tail(15))

    def test_every_partition_of_a_timed_out_acks_all_produce_says_request_timed_out(self):
        # The handler kept a pointer to each partition's response while it added the next
        # partitions to the same vector, and wrote the timeout through those dangling pointers: the
        # broker died without a log line.
        broker, set_delay = slow_disk_broker(self, {})
        partitions = 8
        create_topics(broker, "slow-produce", partitions=partitions)
        set_delay(2)
        answer = self.produce_one_each(broker, "slow-produce", partitions, timeout_ms=300)
        self.assertEqual(answer, {("slow-produce", p): 7 for p in range(partitions)},  # REQUEST_TIMED_OUT
                         "every partition's fsync outlasted timeout_ms=300")

    def test_one_group_commit_fsyncs_its_partitions_side_by_side(self):
        """An acks=all produce over 8 partitions waits for one group commit whose fdatasyncs
        overlap (the file system commits them together), not for 8 in a row: on a slow disk the
        latter made every multi-partition produce 8 fsyncs long."""
        broker, set_delay = slow_disk_broker(self, {})
        partitions = 8
        create_topics(broker, "side-by-side", partitions=partitions)
        set_delay(0.5)
        answer = self.produce_one_each(broker, "side-by-side", partitions, timeout_ms=60_000)
        set_delay(0)
        self.assertEqual(answer, {("side-by-side", p): 0 for p in range(partitions)})
        most = broker.most_overlapping_fsyncs()
        print(f"\nat most {most} of the {partitions} partitions' fsyncs were in progress at once")
        self.assertGreaterEqual(most, 2, "the group commit fsynced its partitions one after another")


if __name__ == "__main__":
    unittest.main()
