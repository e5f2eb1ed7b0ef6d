"""Consumer groups on the raw wire: the protocol's answers to wrong generations, unknown members,
bad session timeouts, unknown topics, oversized metadata and empty group ids (checked against
Kafka's GroupCoordinator and the protocol guide), each followed by a check that the broker still
serves everyone else; `__consumer_offsets` staying internal and read-only; a SyncGroup's result
surviving a restart. Split from test_groups.py, which drives groups with real clients.
"""

import unittest

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewPartitions

import kafka_wire as kw
from ferry_harness import BrokerTestCase, admin, consume_all, consumer, create_topics, produce_all, producer, watermarks
from test_groups import (GROUP_CONFIG, MAX_SESSION_MS, METADATA_MAX, MIN_SESSION_MS, OFFSETS_PARTITIONS,
                         OFFSETS_TOPIC, OVERSIZED, GroupWire, committed, group_consumer, poll_records,
                         produce_keyed)


class WireGroupTest(BrokerTestCase):
    """Errors the group protocol must answer; each test ends by checking that the broker still
    serves produce/consume and that the witness group's committed offsets did not move."""

    TOPIC = "wire-data"
    WITNESS = "witness-group"
    WITNESS_OFFSETS = {0: 4, 1: 7}

    @classmethod
    def setUpClass(cls):
        cls.broker = cls.start_class_broker(dict(GROUP_CONFIG, **{
            "group.max.session.timeout.ms": MAX_SESSION_MS}))
        create_topics(cls.broker, cls.TOPIC, partitions=2)
        produce_keyed(cls.broker, cls.TOPIC, range(2), 10, "w")
        c = consumer(cls.broker, **{"group.id": cls.WITNESS})
        c.commit(offsets=[TopicPartition(cls.TOPIC, p, o) for p, o in cls.WITNESS_OFFSETS.items()],
                 asynchronous=False)
        c.close()

    def setUp(self):
        self.w = GroupWire(self.broker)
        self.addCleanup(self.w.close)

    def assert_unharmed(self):
        self.assertTrue(self.broker.running(), "broker died")
        c = consumer(self.broker, **{"group.id": self.WITNESS})
        try:
            self.assertEqual(committed(c, self.TOPIC, range(2)), self.WITNESS_OFFSETS)
        finally:
            c.close()
        value = f"after-{self.id()}".encode()
        produce_all(self.broker, self.TOPIC, [{"partition": 0, "value": value}])
        self.assertEqual(consume_all(self.broker, self.TOPIC, partitions=[0])[0][-1].value(), value)

    def fetch_one(self, group, partition):
        err, offsets = self.w.fetch(group, {self.TOPIC: [partition]})
        self.assertEqual(err, kw.ERR_NONE)
        return offsets[(self.TOPIC, partition)]

    def test_heartbeat_and_sync_with_wrong_generation_or_member(self):
        group = "hb-group"
        mid, gen, _, sync_err = self.w.join_as_leader(group, self.TOPIC, [0, 1])
        self.assertEqual(sync_err, kw.ERR_NONE)
        self.assertEqual(self.w.heartbeat(group, gen, mid), kw.ERR_NONE)
        self.assertEqual(self.w.heartbeat(group, gen + 1, mid), kw.ERR_ILLEGAL_GENERATION)
        self.assertEqual(self.w.heartbeat(group, gen + 1000, mid), kw.ERR_ILLEGAL_GENERATION)
        self.assertEqual(self.w.sync(group, gen + 1, mid)[0], kw.ERR_ILLEGAL_GENERATION)
        self.assertEqual(self.w.heartbeat(group, gen, mid + "-impostor"), kw.ERR_UNKNOWN_MEMBER_ID)
        self.assertEqual(self.w.heartbeat("hb-no-such-group", gen, mid), kw.ERR_UNKNOWN_MEMBER_ID)
        # None of that disturbed the real member.
        self.assertEqual(self.w.heartbeat(group, gen, mid), kw.ERR_NONE)
        d = self.w.describe(group)
        self.assertEqual((d["state"], [m["member_id"] for m in d["members"]]), ("Stable", [mid]))
        self.assertEqual(self.w.leave(group, [mid, "never-joined"]),
                         (kw.ERR_NONE, {mid: kw.ERR_NONE, "never-joined": kw.ERR_UNKNOWN_MEMBER_ID}))
        self.assertEqual(self.w.heartbeat(group, gen, mid), kw.ERR_UNKNOWN_MEMBER_ID)
        self.assert_unharmed()

    def test_join_without_member_id_is_given_one(self):
        group = "kip394-group"
        first = self.w.join(group, topics=[self.TOPIC])
        self.assertEqual(first["error"], kw.ERR_MEMBER_ID_REQUIRED)
        self.assertTrue(first["member_id"], "MEMBER_ID_REQUIRED must carry the id to rejoin with")
        again = self.w.join(group, first["member_id"], topics=[self.TOPIC])
        self.assertEqual((again["error"], again["member_id"], again["leader"]),
                         (kw.ERR_NONE, first["member_id"], first["member_id"]))
        self.assertEqual(again["members"],
                         [(first["member_id"], None, kw.consumer_subscription([self.TOPIC]))])
        ghost = self.w.join("kip394-ghost-group", "made-up-member", topics=[self.TOPIC])
        self.assertEqual(ghost["error"], kw.ERR_UNKNOWN_MEMBER_ID)
        self.assertNotIn("kip394-ghost-group", self.w.list_groups())
        self.assert_unharmed()

    def test_session_timeout_outside_bounds(self):
        for timeout in (0, MIN_SESSION_MS - 1, MAX_SESSION_MS + 1):
            r = self.w.join("bad-session-group", topics=[self.TOPIC], session_timeout_ms=timeout)
            self.assertEqual(r["error"], kw.ERR_INVALID_SESSION_TIMEOUT, f"session timeout {timeout}")
        self.assertNotIn("bad-session-group", self.w.list_groups())
        for timeout in (MIN_SESSION_MS, MAX_SESSION_MS):  # the bounds themselves are allowed
            r = self.w.join(f"session-{timeout}-group", topics=[self.TOPIC], session_timeout_ms=timeout)
            self.assertEqual(r["error"], kw.ERR_MEMBER_ID_REQUIRED, f"session timeout {timeout}")
        self.assert_unharmed()

    def test_membership_apis_reject_empty_group_id(self):
        self.assertEqual(self.w.join("", topics=[self.TOPIC])["error"], kw.ERR_INVALID_GROUP_ID)
        self.assertEqual(self.w.sync("", 1, "m")[0], kw.ERR_INVALID_GROUP_ID)
        self.assertEqual(self.w.heartbeat("", 1, "m"), kw.ERR_INVALID_GROUP_ID)
        self.assertEqual(self.w.leave("", ["m"])[0], kw.ERR_INVALID_GROUP_ID)
        self.assert_unharmed()

    def test_offset_commit_and_fetch_accept_empty_group_id(self):
        # Kafka's GroupCoordinator.isValidGroupId: OffsetCommit, OffsetFetch, DescribeGroups and
        # DeleteGroups accept "" for backward compatibility; only the membership APIs refuse it.
        r = self.w.commit("", {self.TOPIC: [(0, 3, "empty-group")]})
        self.assertEqual(r, {(self.TOPIC, 0): kw.ERR_NONE})
        self.assertEqual(self.fetch_one("", 0), (3, -1, "empty-group", kw.ERR_NONE))
        self.assert_unharmed()

    def test_commit_to_unknown_topic_fails_only_there(self):
        group = "mixed-commit-group"
        r = self.w.commit(group, {self.TOPIC: [(0, 6, "ok"), (7, 1, "no such partition")],
                                  "no-such-topic": [(0, 1, None)]})
        self.assertEqual(r, {(self.TOPIC, 0): kw.ERR_NONE,
                             (self.TOPIC, 7): kw.ERR_UNKNOWN_TOPIC_OR_PARTITION,
                             ("no-such-topic", 0): kw.ERR_UNKNOWN_TOPIC_OR_PARTITION})
        err, offsets = self.w.fetch(group, None)
        self.assertEqual((err, offsets), (kw.ERR_NONE, {(self.TOPIC, 0): (6, -1, "ok", kw.ERR_NONE)}))
        self.assertNotIn("no-such-topic", self.w.metadata())
        self.assert_unharmed()

    def test_commit_metadata_size_limit(self):
        group = "metadata-size-group"
        at_limit = "m" * METADATA_MAX
        self.assertEqual(self.w.commit(group, {self.TOPIC: [(0, 10, at_limit)]}),
                         {(self.TOPIC, 0): kw.ERR_NONE})
        r = self.w.commit(group, {self.TOPIC: [(0, 20, at_limit + "m"), (1, 21, "small")]})
        self.assertEqual(r, {(self.TOPIC, 0): kw.ERR_OFFSET_METADATA_TOO_LARGE,
                             (self.TOPIC, 1): kw.ERR_NONE})
        self.assertEqual(self.fetch_one(group, 0), (10, -1, at_limit, kw.ERR_NONE))
        self.assertEqual(self.fetch_one(group, 1), (21, -1, "small", kw.ERR_NONE))
        self.assert_unharmed()

    def test_commit_with_wrong_generation_in_stable_group(self):
        group = "generation-group"
        mid, gen, _, sync_err = self.w.join_as_leader(group, self.TOPIC, [0, 1])
        self.assertEqual(sync_err, kw.ERR_NONE)
        good = {self.TOPIC: [(0, 2, "good")]}
        stale = {self.TOPIC: [(0, 9, "stale")]}
        self.assertEqual(self.w.commit(group, good, gen, mid), {(self.TOPIC, 0): kw.ERR_NONE})
        self.assertEqual(self.w.commit(group, stale, gen + 1, mid),
                         {(self.TOPIC, 0): kw.ERR_ILLEGAL_GENERATION})
        self.assertEqual(self.w.commit(group, stale, gen, "intruder"),
                         {(self.TOPIC, 0): kw.ERR_UNKNOWN_MEMBER_ID})
        # A standalone commit (generation -1, no member) into an active group is refused too, with
        # Kafka 3.x's UNKNOWN_MEMBER_ID (GroupCoordinator.validateOffsetCommit).
        self.assertEqual(self.w.commit(group, stale), {(self.TOPIC, 0): kw.ERR_UNKNOWN_MEMBER_ID})
        self.assertEqual(self.fetch_one(group, 0), (2, -1, "good", kw.ERR_NONE))
        self.assert_unharmed()

    def test_consumer_offsets_is_internal_and_read_only(self):
        md = self.w.metadata()
        self.assertEqual(md[OFFSETS_TOPIC], {"error": kw.ERR_NONE, "internal": True,
                                             "partitions": OFFSETS_PARTITIONS})
        self.assertFalse(md[self.TOPIC]["internal"])
        before = watermarks(self.broker, OFFSETS_TOPIC, 0)

        for version in (3, 7):
            body = kw.produce_body(OFFSETS_TOPIC, 0, kw.record_batch([(b"junk-key", b"junk-value")]))
            r = kw.parse_produce_response(self.w.request(kw.API_PRODUCE, version, body))
            self.assertEqual(r, {(OFFSETS_TOPIC, 0): kw.ERR_INVALID_TOPIC_EXCEPTION}, f"Produce v{version}")
        p = producer(self.broker, **{"message.timeout.ms": 10000})
        reports = []
        p.produce(OFFSETS_TOPIC, b"junk", partition=0, on_delivery=lambda err, msg: reports.append(err))
        self.assertEqual(p.flush(20), 0)
        self.assertEqual([e and e.code() for e in reports], [KafkaError.TOPIC_EXCEPTION])

        a = admin(self.broker)
        for fut in a.delete_topics([OFFSETS_TOPIC], operation_timeout=10).values():
            with self.assertRaises(KafkaException) as cm:
                fut.result(20)
            self.assertEqual(cm.exception.args[0].code(), KafkaError.INVALID_REQUEST)
        grow = [NewPartitions(OFFSETS_TOPIC, OFFSETS_PARTITIONS + 10)]
        for fut in a.create_partitions(grow, operation_timeout=10).values():
            with self.assertRaises(KafkaException) as cm:
                fut.result(20)
            self.assertEqual(cm.exception.args[0].code(), KafkaError.INVALID_REQUEST)

        self.assertEqual(self.w.metadata()[OFFSETS_TOPIC]["partitions"], OFFSETS_PARTITIONS)
        self.assertEqual(watermarks(self.broker, OFFSETS_TOPIC, 0), before, "something was written")
        self.assert_unharmed()


class OversizedMemberMetadataTest(BrokerTestCase):
    """A member whose JoinGroup metadata (2 MiB) makes the group record larger than
    message.max.bytes (1 MiB by default) in __consumer_offsets."""

    TOPIC = "big-member-data"
    GROUP = "oversized-group"
    WITNESS = "oversized-witness"

    def setUp(self):
        self.broker = self.start_broker(GROUP_CONFIG)
        create_topics(self.broker, self.TOPIC, partitions=2)
        self.produced = produce_keyed(self.broker, self.TOPIC, range(2), 10, "o")
        c = consumer(self.broker, **{"group.id": self.WITNESS})
        c.commit(offsets=[TopicPartition(self.TOPIC, 0, 3), TopicPartition(self.TOPIC, 1, 6)],
                 asynchronous=False)
        c.close()

    def join_oversized(self):
        with GroupWire(self.broker) as w:
            meta = kw.consumer_subscription([self.TOPIC], user_data=b"\xab" * OVERSIZED)
            mid, gen, joined, sync_err = w.join_as_leader(self.GROUP, self.TOPIC, [0, 1],
                                                          protocols=[("range", meta)])
        print(f"\noversized JoinGroup: error {joined['error']}, generation {gen}; SyncGroup: {sync_err}",
              flush=True)
        return mid, gen, joined, sync_err

    def assert_witness(self):
        c = consumer(self.broker, **{"group.id": self.WITNESS})
        try:
            self.assertEqual(committed(c, self.TOPIC, range(2)), {0: 3, 1: 6})
        finally:
            c.close()

    def test_oversized_join_leaves_broker_and_offsets_alone(self):
        self.join_oversized()
        self.assertTrue(self.broker.running())
        self.assert_witness()
        other = group_consumer(self.broker, "bystander-group")
        other.subscribe([self.TOPIC])
        got = poll_records(other, len(self.produced))
        other.commit(asynchronous=False)
        self.assertEqual(committed(other, self.TOPIC, range(2)), {0: 10, 1: 10})
        other.close()
        self.assertEqual(sorted((m.partition(), m.offset()) for m in got), sorted(self.produced))

        self.broker.restart(graceful=False)
        self.assert_witness()
        c = consumer(self.broker, **{"group.id": "bystander-group"})
        self.addCleanup(c.close)
        self.assertEqual(committed(c, self.TOPIC, range(2)), {0: 10, 1: 10})
        produce_all(self.broker, self.TOPIC, [{"partition": 1, "value": b"still-serving"}])
        last = consume_all(self.broker, self.TOPIC, partitions=[1])[1][-1]
        self.assertEqual(last.value(), b"still-serving")

    def test_sync_group_success_survives_restart(self):
        # Kafka answers SyncGroup only after the group record is appended; when the append fails
        # (MESSAGE_TOO_LARGE here) the members get an error (GroupMetadataManager.storeGroup maps
        # it to UNKNOWN_SERVER_ERROR) and rejoin. A success the broker cannot keep after a crash
        # would leave the member consuming under an assignment the coordinator has lost.
        mid, gen, joined, sync_err = self.join_oversized()
        self.assertEqual(joined["error"], kw.ERR_NONE)
        if sync_err != kw.ERR_NONE:
            # Refused: the member holds no assignment, so the group must not look settled.
            with GroupWire(self.broker) as w:
                self.assertNotEqual(w.describe(self.GROUP)["state"], "Stable")
        else:
            self.broker.restart(graceful=False)
            with GroupWire(self.broker) as w:
                d = w.describe(self.GROUP)
            self.assertEqual((d["state"], [m["member_id"] for m in d["members"]]), ("Stable", [mid]),
                             "SyncGroup answered NONE, but the assignment did not survive a SIGKILL")
        self.assert_witness()


if __name__ == "__main__":
    unittest.main()
