"""Partition reassignment (KIP-455: AlterPartitionReassignments 45, ListPartitionReassignments 46)
in a region of three ferry-brokers on etcd, under an idempotent acks=all producer: a partition
moves off its leader's broker onto another while records flow, and nothing acknowledged is lost
or duplicated; a move in progress shows in ListPartitionReassignments and can be cancelled; bad
requests get Kafka's error codes. A one-broker region accepts only the replica list it has.
"""

import os
import unittest

from cluster_faults import Region, Workload, check, read_log, replica_bytes
from ferry_harness import Broker, BrokerTestCase, create_topics, wait_until
from reassign_wire import alter_reassignments, list_reassignments

ERR_NONE = 0
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_INVALID_REPLICA_ASSIGNMENT = 39
ERR_NO_REASSIGNMENT_IN_PROGRESS = 85


class ReassignTestCase(BrokerTestCase):
    def region(self, **kw):
        r = Region(**kw)
        self.addCleanup(r.close)
        self.__dict__.setdefault("_processes", []).extend(r.brokers)
        return r

    def two_replica_topic(self, region, name):
        """An RF 2 topic of one partition; returns (its replicas, the broker that is not one)."""
        create_topics(region, name, partitions=1, replication_factor=2, config={"min.insync.replicas": "1"})
        replicas = region.topic(name)["assignment"][0]
        spare = next(b.node_id for b in region.brokers if b.node_id not in replicas)
        return replicas, spare

    def wait_moved(self, region, topic, replicas, timeout=60):
        def done():
            t = region.topic(topic)
            return t["assignment"][0] == replicas and not t.get("reassignments")
        wait_until(done, timeout=timeout, what=f"{topic}-0 reassigned to {replicas}")


class ReassignTest(ReassignTestCase):
    def test_a_partition_moves_off_its_leader_under_load_and_loses_nothing(self):
        region = self.region()
        replicas, spare = self.two_replica_topic(region, "move")
        leader = region.leader("move")
        epoch_before = region.state("move")["leader_epoch"]
        work = Workload(region, "move")
        work.wait_acked(3000)
        # The leader's broker leaves: the spare takes its place, and leadership must move.
        target = [spare] + [r for r in replicas if r != leader]
        error, result = alter_reassignments(region.brokers[0], {("move", 0): target})
        self.assertEqual((error, result), (ERR_NONE, {("move", 0): (ERR_NONE, None)}))
        self.wait_moved(region, "move", target)
        state = region.state("move")
        self.assertIn(state["leader"], target)
        self.assertEqual(sorted(state["isr"]), sorted(target))
        self.assertGreater(state["leader_epoch"], epoch_before)
        wait_until(lambda: list_reassignments(region.brokers[0]) == (ERR_NONE, {}), timeout=10,
                   what="no reassignment listed")
        # The old replica is deleted from the broker that left.
        gone = region.broker(leader)
        wait_until(lambda: not os.path.exists(os.path.join(gone.data_dir, "move-0")), timeout=30,
                   what="the removed replica's directory deleted")
        work.wait_acked(2000)
        work.stop()
        self.assertEqual([str(e) for e in work.errors], [])
        lost, duplicated = check([v for v, _ in work.acked], read_log(region, "move", 1))
        self.assertEqual((lost, duplicated), (0, 0))
        wait_until(lambda: len({replica_bytes(region.broker(r), "move", 0) for r in target}) == 1, timeout=30,
                   what="identical replicas on the target brokers")

    def test_a_move_in_progress_is_listed_and_cancelled(self):
        region = self.region()
        replicas, spare = self.two_replica_topic(region, "undo")
        # A frozen target cannot catch up, so the move stays in progress (it is still registered
        # when asked: its session has not expired yet).
        region.sigstop(region.broker(spare))
        target = [spare, replicas[0]]
        asker = next(b for b in region.brokers if b.node_id != spare)
        self.assertEqual(alter_reassignments(asker, {("undo", 0): target})[1], {("undo", 0): (ERR_NONE, None)})
        error, ongoing = list_reassignments(asker)
        self.assertEqual(error, ERR_NONE)
        self.assertEqual(ongoing, {("undo", 0): {"replicas": target + [replicas[1]], "adding": [spare],
                                                 "removing": [replicas[1]]}})
        self.assertEqual(list_reassignments(asker, {"undo": [0, 7], "nosuch": [0]})[1], ongoing)
        self.assertEqual(alter_reassignments(asker, {("undo", 0): None})[1], {("undo", 0): (ERR_NONE, None)})
        self.wait_moved(region, "undo", replicas)
        wait_until(lambda: list_reassignments(asker) == (ERR_NONE, {}), timeout=10, what="no reassignment listed")
        region.sigcont(region.broker(spare))
        # Back in the region, the spare holds no replica of the partition.
        wait_until(lambda: len(region.metadata().brokers) == 3, timeout=30, what="the spare registered again")
        wait_until(lambda: not os.path.exists(os.path.join(region.broker(spare).data_dir, "undo-0")), timeout=30,
                   what="no replica of undo-0 on the spare")

    def test_bad_requests_get_kafkas_error_codes(self):
        region = self.region()
        replicas, spare = self.two_replica_topic(region, "bad")
        b = region.brokers[0]
        cases = {
            ("bad", 0): [spare, 99],          # broker 99 is not registered
            ("bad", 1): [spare],              # no partition 1
            ("nosuch", 0): [1],               # no such topic
        }
        _, got = alter_reassignments(b, cases)
        self.assertEqual(got[("bad", 0)][0], ERR_INVALID_REPLICA_ASSIGNMENT)
        self.assertIn("99", got[("bad", 0)][1])
        self.assertEqual(got[("bad", 1)][0], ERR_UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(got[("nosuch", 0)][0], ERR_UNKNOWN_TOPIC_OR_PARTITION)
        for bad in ([], [spare, spare], [-1]):
            self.assertEqual(alter_reassignments(b, {("bad", 0): bad})[1][("bad", 0)][0], ERR_INVALID_REPLICA_ASSIGNMENT,
                             bad)
        self.assertEqual(alter_reassignments(b, {("bad", 0): None})[1][("bad", 0)][0], ERR_NO_REASSIGNMENT_IN_PROGRESS)
        # The current list again: accepted, nothing to do.
        self.assertEqual(alter_reassignments(b, {("bad", 0): replicas})[1][("bad", 0)][0], ERR_NONE)
        self.assertEqual(region.topic("bad")["assignment"][0], replicas)
        self.assertEqual(list_reassignments(b), (ERR_NONE, {}))


class OneBrokerReassignTest(BrokerTestCase):
    def test_a_one_broker_region_keeps_its_replica_lists(self):
        b = Broker()
        self.__dict__.setdefault("_processes", []).append(b)
        self.addCleanup(b.close)
        create_topics(b, "solo", partitions=1)
        got = alter_reassignments(b, {("solo", 0): [b.node_id]})[1]
        self.assertEqual(got, {("solo", 0): (ERR_NONE, None)})
        self.assertEqual(alter_reassignments(b, {("solo", 0): [b.node_id, 2]})[1][("solo", 0)][0],
                         ERR_INVALID_REPLICA_ASSIGNMENT)
        self.assertEqual(alter_reassignments(b, {("solo", 0): None})[1][("solo", 0)][0], ERR_NO_REASSIGNMENT_IN_PROGRESS)
        self.assertEqual(list_reassignments(b), (ERR_NONE, {}))


if __name__ == "__main__":
    unittest.main()
