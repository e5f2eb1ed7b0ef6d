"""Consumer groups and committed offsets, as kcat, confluent-kafka and raw frames see them.

Covers the classic group protocol end to end: kcat balanced consumers splitting a topic and taking
over from a SIGKILLed member; a confluent-kafka member resuming exactly after what an earlier
member committed; committed offsets, deleted groups and standalone commits surviving a broker
SIGKILL; ListGroups/DescribeGroups. The protocol's answers to bad requests on the raw wire, and
`__consumer_offsets` staying internal, are in test_groups_wire.py.
Every broker here uses group.initial.rebalance.delay.ms = 0 so that a lone member's join
completes at once.
"""

import os
import subprocess
import tempfile
import time
import unittest

from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

import kafka_wire as kw
from ferry_harness import (BrokerTestCase, _die_with_parent, admin, consumer, create_topics, next_record,
                           produce_all, wait_until)

GROUP_CONFIG = {"group.initial.rebalance.delay.ms": 0}
MIN_SESSION_MS = 6000    # the broker's default group.min.session.timeout.ms (Kafka's default too)
MAX_SESSION_MS = 60000   # group.max.session.timeout.ms set by WireGroupTest (default: 30 min)
METADATA_MAX = 4096      # the broker's default offset.metadata.max.bytes (Kafka's default too)
OVERSIZED = 2 << 20      # protocol metadata bytes in the oversized JoinGroup
OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_PARTITIONS = 50  # default offsets.topic.num.partitions


def produce_keyed(broker, topic, partitions, per_partition, tag):
    """Produces `per_partition` records to each partition, key "<tag>-p<p>-<i>"; returns
    {(partition, offset): (key, value)} from the delivery reports."""
    recs = [{"partition": p, "key": f"{tag}-p{p}-{i}".encode(), "value": f"value-{tag}-{p}-{i}".encode()}
            for p in partitions for i in range(per_partition)]
    return {(m.partition(), m.offset()): (m.key(), m.value()) for m in produce_all(broker, topic, recs)}


def group_consumer(broker, group, **conf):
    """A subscribing member of `group`: offsets of returned records are stored and committed only
    by an explicit commit(); a 6 s session (the broker's minimum) keeps failover short."""
    c = {"group.id": group, "enable.auto.offset.store": True, "session.timeout.ms": MIN_SESSION_MS,
         "heartbeat.interval.ms": 1000}
    c.update(conf)
    return consumer(broker, **c)


def poll_records(c, n, timeout=30):
    """Polls until `n` records were returned (in that order); raises on consumer errors other than
    partition EOF and when they do not arrive within `timeout` s."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(got)} of {n} records within {timeout}s")
        m = next_record(c, 0.2)
        if m is not None:
            got.append(m)
    return got


def next_offsets(messages):
    """{partition: last returned offset + 1}: what committing after these records must store."""
    out = {}
    for m in messages:
        out[m.partition()] = max(out.get(m.partition(), 0), m.offset() + 1)
    return out


def committed(c, topic, partitions):
    """{partition: committed offset} via OffsetFetch; OFFSET_INVALID where nothing is committed."""
    tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    for tp in tps:
        if tp.error:
            raise KafkaException(tp.error)
    return {tp.partition: tp.offset for tp in tps}


def describe(a, group):
    """confluent-kafka's view of one group (ListGroups + DescribeGroups), or None if not listed."""
    groups = a.list_groups(group, timeout=10)
    return groups[0] if groups else None


class GroupWire(kw.Connection):
    """A raw connection with one method per group request; each returns the parsed response."""

    def __init__(self, broker):
        super().__init__("127.0.0.1", broker.port)

    def join(self, group, member_id="", topics=("t",), protocols=None, session_timeout_ms=10000):
        protocols = protocols or [("range", kw.consumer_subscription(topics))]
        body = kw.join_group_v5_body(group, member_id, protocols, session_timeout_ms, 10000)
        return kw.parse_join_group_v5(self.request(kw.API_JOIN_GROUP, 5, body))

    def sync(self, group, generation, member_id, assignments=None):
        body = kw.sync_group_v3_body(group, generation, member_id, assignments)
        return kw.parse_sync_group_v3(self.request(kw.API_SYNC_GROUP, 3, body))

    def heartbeat(self, group, generation, member_id):
        body = kw.heartbeat_v3_body(group, generation, member_id)
        return kw.parse_heartbeat_v3(self.request(kw.API_HEARTBEAT, 3, body))

    def leave(self, group, member_ids):
        body = kw.leave_group_v3_body(group, [(m, None) for m in member_ids])
        return kw.parse_leave_group_v3(self.request(kw.API_LEAVE_GROUP, 3, body))

    def commit(self, group, offsets, generation=-1, member_id=""):
        body = kw.offset_commit_v7_body(group, offsets, generation, member_id)
        return kw.parse_offset_commit_v7(self.request(kw.API_OFFSET_COMMIT, 7, body))

    def fetch(self, group, topics):
        body = kw.offset_fetch_v5_body(group, topics)
        return kw.parse_offset_fetch_v5(self.request(kw.API_OFFSET_FETCH, 5, body))

    def describe(self, group):
        body = kw.describe_groups_v4_body([group])
        return kw.parse_describe_groups_v4(self.request(kw.API_DESCRIBE_GROUPS, 4, body))[0]

    def list_groups(self):
        err, groups = kw.parse_list_groups_v2(self.request(kw.API_LIST_GROUPS, 2, b""))
        assert err == kw.ERR_NONE, f"ListGroups error {err}"
        return groups

    def delete_groups(self, groups):
        body = kw.delete_groups_v1_body(groups)
        return kw.parse_delete_groups_v1(self.request(kw.API_DELETE_GROUPS, 1, body))

    def metadata(self):
        return kw.parse_metadata_v1(self.request(kw.API_METADATA, 1, kw.metadata_v1_body(None)))

    def join_as_leader(self, group, topic, partitions, protocols=None):
        """Joins `group` alone the way a v4+ client does (MEMBER_ID_REQUIRED, rejoin with the
        given id), assigns itself `partitions` of `topic` as leader; returns (member_id,
        generation, join response, SyncGroup error)."""
        first = self.join(group, topics=[topic], protocols=protocols)
        assert first["error"] == kw.ERR_MEMBER_ID_REQUIRED, first
        joined = self.join(group, first["member_id"], topics=[topic], protocols=protocols)
        mid, gen = joined["member_id"], joined["generation_id"]
        if joined["error"] != kw.ERR_NONE or joined["leader"] != mid:
            return mid, gen, joined, None
        err, _ = self.sync(group, gen, mid, {mid: kw.consumer_assignment({topic: list(partitions)})})
        return mid, gen, joined, err


class KcatMember:
    """One `kcat -G` balanced consumer writing "REC partition offset key value" lines to a file."""

    def __init__(self, broker, group, topic, name, workdir, session_timeout_ms):
        self.name = name
        self.out_path = os.path.join(workdir, name + ".out")
        self.err_path = os.path.join(workdir, name + ".err")
        cmd = ["kcat", "-b", broker.bootstrap, "-G", group, "-u", "-f", "REC %p %o %k %s\n",
               "-X", f"client.id={name}", "-X", f"session.timeout.ms={session_timeout_ms}",
               "-X", "heartbeat.interval.ms=1000", "-X", "auto.offset.reset=earliest", topic]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)

    def records(self):
        """[(partition, offset, key, value)] of every complete line written so far."""
        with open(self.out_path, "rb") as f:
            lines = f.read().split(b"\n")[:-1]  # the last piece is empty or still being written
        out = []
        for line in lines:
            parts = line.decode().split(" ")
            if len(parts) == 5 and parts[0] == "REC":
                out.append((int(parts[1]), int(parts[2]), parts[3], parts[4]))
        return out

    def keys(self):
        """The set of keys printed so far."""
        return {r[2] for r in self.records()}

    def stderr_tail(self):
        with open(self.err_path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-15:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class KcatBalancedGroupTest(BrokerTestCase):
    TOPIC = "kc-balanced"
    GROUP = "kc-group"
    PARTITIONS = range(6)
    SESSION_MS = MIN_SESSION_MS
    REBALANCE_SLACK_S = 30  # heartbeat discovery + rejoin + sync on two busy cores; bounds the wait

    def setUp(self):
        self.broker = self.start_broker(GROUP_CONFIG)
        create_topics(self.broker, self.TOPIC, partitions=len(self.PARTITIONS))
        self.admin = admin(self.broker)
        # The harness's prefix and our pid: a run killed before cleanup gets swept on next import.
        workdir = tempfile.TemporaryDirectory(prefix=f"ferry-it-{os.getpid()}-kcat-")
        self.addCleanup(workdir.cleanup)
        self.workdir = workdir.name

    def start_member(self, name):
        m = KcatMember(self.broker, self.GROUP, self.TOPIC, name, self.workdir, self.SESSION_MS)
        self.addCleanup(m.kill)
        return m

    def wait_for_members(self, members, timeout):
        """Waits until the group is Stable with exactly these kcat members; returns
        {member name: set of assigned partitions} from DescribeGroups."""
        names = sorted(m.name for m in members)
        last = [None]

        def stable():
            g = describe(self.admin, self.GROUP)
            last[0] = g and (g.state, sorted(m.client_id for m in g.members))
            if g is None or g.state != "Stable" or last[0][1] != names:
                return None
            return {m.client_id: set(kw.parse_consumer_assignment(m.assignment).get(self.TOPIC, []))
                    for m in g.members}
        try:
            return wait_until(stable, timeout, interval=0.25, what=f"group Stable with {names}")
        except AssertionError as e:
            tails = "\n".join(f"--- {m.name} stderr ---\n{m.stderr_tail()}" for m in members)
            raise AssertionError(f"{e}; last seen {last[0]}\n{tails}") from None

    def assert_split(self, assignment):
        for name, parts in assignment.items():
            self.assertTrue(parts, f"{name} was assigned no partition: {assignment}")
        self.assertEqual(set().union(*assignment.values()), set(self.PARTITIONS), assignment)
        self.assertEqual(sum(len(p) for p in assignment.values()), len(self.PARTITIONS),
                         f"a partition is assigned twice: {assignment}")

    def wait_for_keys(self, members, keys, timeout=30):
        wait_until(lambda: keys <= set().union(*(m.keys() for m in members)), timeout, interval=0.2,
                   what=f"{len(keys)} records in the output of {[m.name for m in members]}")

    def assert_consumed_once_by_owner(self, members, assignment, produced):
        """Every record of `produced` was printed exactly once, by the member owning its partition."""
        for (p, off), (key, _) in sorted(produced.items()):
            seen = [m.name for m in members for r in m.records() if r[2] == key.decode()]
            owner = [name for name, parts in assignment.items() if p in parts]
            self.assertEqual(seen, owner, f"record {key} (partition {p}, offset {off})")

    def test_kcat_members_split_partitions_and_survivors_take_over(self):
        before = produce_keyed(self.broker, self.TOPIC, self.PARTITIONS, 4, "pre")
        members = [self.start_member(f"kcat-m{i}") for i in range(3)]
        assignment = self.wait_for_members(members, 60)
        self.assert_split(assignment)
        # Each record written before the group formed reaches some member (at least once: members
        # that joined first may have read partitions they later handed over).
        self.wait_for_keys(members, {k.decode() for k, _ in before.values()})

        steady = produce_keyed(self.broker, self.TOPIC, self.PARTITIONS, 2, "steady")
        self.wait_for_keys(members, {k.decode() for k, _ in steady.values()})
        self.assert_consumed_once_by_owner(members, assignment, steady)

        victim, survivors = members[0], members[1:]
        victim.kill()
        # Produced while the dead member still owns its partitions: they must not stay unread.
        during = produce_keyed(self.broker, self.TOPIC, self.PARTITIONS, 3, "during")
        after_kill = self.wait_for_members(survivors, self.SESSION_MS / 1000 + self.REBALANCE_SLACK_S)
        self.assert_split(after_kill)
        self.wait_for_keys(survivors, {k.decode() for k, _ in during.values()})
        by_partition = {}
        for p, _, key, _ in (r for m in survivors for r in m.records()):
            by_partition.setdefault(p, set()).add(key)
        for (p, _), (key, _) in during.items():
            self.assertIn(key.decode(), by_partition.get(p, set()), f"partition {p} left unconsumed")

        settled = produce_keyed(self.broker, self.TOPIC, self.PARTITIONS, 2, "settled")
        self.wait_for_keys(survivors, {k.decode() for k, _ in settled.values()})
        self.assert_consumed_once_by_owner(survivors, after_kill, settled)


class ConfluentGroupTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = cls.start_class_broker(GROUP_CONFIG)

    def test_new_member_resumes_after_committed_offsets(self):
        topic, group = "cf-resume", "cf-resume-group"
        create_topics(self.broker, topic, partitions=3)
        produced = produce_keyed(self.broker, topic, range(3), 40, "r")
        c1 = group_consumer(self.broker, group)
        c1.subscribe([topic])
        # 50 is no multiple of 40, so at least one partition is read only in part.
        first = poll_records(c1, 50)
        result = c1.commit(asynchronous=False)
        self.assertTrue(all(tp.error is None for tp in result), result)
        expected = next_offsets(first)
        got = committed(c1, topic, range(3))
        self.assertEqual({p: o for p, o in got.items() if o != OFFSET_INVALID}, expected)
        c1.close()

        c2 = group_consumer(self.broker, group)
        self.addCleanup(c2.close)
        c2.subscribe([topic])
        rest = poll_records(c2, len(produced) - len(first))
        for p in range(3):
            offsets = [m.offset() for m in rest if m.partition() == p]
            if offsets:
                self.assertEqual(offsets[0], expected.get(p, 0), f"partition {p} resumed elsewhere")
        seen = [(m.partition(), m.offset()) for m in first + rest]
        self.assertEqual(len(seen), len(set(seen)), "a record was delivered twice")
        self.assertEqual(set(seen), set(produced), "a record was skipped")
        for m in first + rest:
            self.assertEqual((m.key(), m.value()), produced[(m.partition(), m.offset())])

    def test_list_and_describe_show_state_and_members(self):
        topic, group = "cf-listed", "cf-listed-group"
        create_topics(self.broker, topic, partitions=2)
        a = admin(self.broker)
        c = group_consumer(self.broker, group, **{"client.id": "listed-member",
                                                  "partition.assignment.strategy": "roundrobin"})
        c.subscribe([topic])

        def assigned():
            c.poll(0.1)  # the consumer joins and syncs from inside poll()
            return c.assignment()
        wait_until(assigned, 30, what="an assignment")
        g = wait_until(lambda: (lambda g: g if g and g.state == "Stable" else None)(describe(a, group)),
                       30, what=f"{group} Stable")
        self.assertEqual((g.protocol_type, g.protocol), ("consumer", "roundrobin"))
        self.assertEqual(len(g.members), 1)
        m = g.members[0]
        self.assertEqual((m.client_id, m.client_host), ("listed-member", "/127.0.0.1"))
        self.assertEqual(kw.parse_consumer_subscription(m.metadata), [topic])
        self.assertEqual(kw.parse_consumer_assignment(m.assignment), {topic: [0, 1]})
        listed = {x.id: x.state for x in a.list_groups(timeout=10)}
        self.assertEqual(listed.get(group), "Stable")

        c.close()
        g = wait_until(lambda: (lambda g: g if g and g.state == "Empty" else None)(describe(a, group)),
                       30, what=f"{group} Empty after close")
        self.assertEqual(g.members, [])
        with GroupWire(self.broker) as w:
            self.assertEqual(w.list_groups().get(group), "consumer")


class CommittedOffsetsCrashTest(BrokerTestCase):
    TOPIC = "crash-offsets"

    def setUp(self):
        self.broker = self.start_broker(GROUP_CONFIG)
        create_topics(self.broker, self.TOPIC, partitions=2)
        self.produced = produce_keyed(self.broker, self.TOPIC, range(2), 30, "c")

    def test_group_offsets_survive_sigkill(self):
        group = "crash-group"
        c1 = group_consumer(self.broker, group)
        c1.subscribe([self.TOPIC])
        first = poll_records(c1, 25)
        c1.commit(asynchronous=False)
        before = committed(c1, self.TOPIC, range(2))
        self.assertEqual({p: o for p, o in before.items() if o != OFFSET_INVALID}, next_offsets(first))
        c1.close()

        self.broker.restart(graceful=False)
        c2 = group_consumer(self.broker, group)
        self.addCleanup(c2.close)
        self.assertEqual(committed(c2, self.TOPIC, range(2)), before)
        c2.subscribe([self.TOPIC])
        rest = poll_records(c2, len(self.produced) - len(first))
        for p in range(2):
            offsets = [m.offset() for m in rest if m.partition() == p]
            if offsets:
                self.assertEqual(offsets[0], before[p] if before[p] >= 0 else 0, f"partition {p}")
        seen = [(m.partition(), m.offset()) for m in first + rest]
        self.assertEqual(sorted(seen), sorted(self.produced))

    def test_deleted_group_stays_deleted_after_sigkill(self):
        doomed, kept = "doomed-group", "kept-group"
        c = group_consumer(self.broker, doomed)
        c.subscribe([self.TOPIC])
        poll_records(c, 10)
        c.commit(asynchronous=False)
        c.close()
        k = consumer(self.broker, **{"group.id": kept})
        k.commit(offsets=[TopicPartition(self.TOPIC, 0, 11), TopicPartition(self.TOPIC, 1, 12)],
                 asynchronous=False)
        k.close()
        with GroupWire(self.broker) as w:
            # DeleteGroups refuses a group with members (NON_EMPTY_GROUP): wait for the leave.
            wait_until(lambda: w.describe(doomed)["state"] == "Empty", 30, what=f"{doomed} Empty")
            self.assertEqual(w.delete_groups([doomed]), {doomed: kw.ERR_NONE})
            self.assertNotIn(doomed, w.list_groups())

        self.broker.restart(graceful=False)
        with GroupWire(self.broker) as w:
            groups = w.list_groups()
            self.assertNotIn(doomed, groups)
            self.assertIn(kept, groups)
            self.assertEqual(w.describe(doomed)["state"], "Dead")
            err, offsets = w.fetch(doomed, {self.TOPIC: [0, 1]})
            self.assertEqual((err, {tp: v[0] for tp, v in offsets.items()}),
                             (kw.ERR_NONE, {(self.TOPIC, 0): -1, (self.TOPIC, 1): -1}))
            self.assertEqual(w.delete_groups([doomed]), {doomed: kw.ERR_GROUP_ID_NOT_FOUND})
        c = consumer(self.broker, **{"group.id": kept})
        self.addCleanup(c.close)
        self.assertEqual(committed(c, self.TOPIC, range(2)), {0: 11, 1: 12})

    def test_standalone_commits_survive_sigkill(self):
        c = consumer(self.broker, **{"group.id": "standalone"})
        c.assign([TopicPartition(self.TOPIC, p) for p in range(2)])
        c.commit(offsets=[TopicPartition(self.TOPIC, 0, 5), TopicPartition(self.TOPIC, 1, 9)],
                 asynchronous=False)
        c.close()
        wire_offsets = {self.TOPIC: [(0, 3, "checkpoint-a", 0), (1, 8, "checkpoint-b", 0)]}
        with GroupWire(self.broker) as w:
            self.assertEqual(set(w.commit("standalone-wire", wire_offsets).values()), {kw.ERR_NONE})

        self.broker.restart(graceful=False)
        c = consumer(self.broker, **{"group.id": "standalone"})
        self.addCleanup(c.close)
        self.assertEqual(committed(c, self.TOPIC, range(2)), {0: 5, 1: 9})
        # assign() without offsets starts at the committed ones.
        c.assign([TopicPartition(self.TOPIC, p) for p in range(2)])
        resumed = poll_records(c, (30 - 5) + (30 - 9))
        firsts = {p: min(m.offset() for m in resumed if m.partition() == p) for p in range(2)}
        self.assertEqual(firsts, {0: 5, 1: 9})
        with GroupWire(self.broker) as w:
            err, offsets = w.fetch("standalone-wire", {self.TOPIC: [0, 1]})
        self.assertEqual(err, kw.ERR_NONE)
        self.assertEqual(offsets, {(self.TOPIC, p): (o, epoch, meta, kw.ERR_NONE)
                                   for p, o, meta, epoch in wire_offsets[self.TOPIC]})


if __name__ == "__main__":
    unittest.main()
