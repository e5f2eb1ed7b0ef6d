"""`ferry-admin cluster describe` and `ferry-admin topics reassign` against a region of three
ferry-brokers on etcd (tests/integration/cluster_faults.py's Region): what an operator sees on
stdout, stderr and the exit status, cross-checked with confluent-kafka's Metadata and a consumer.

$FERRY_ADMIN is the CLI under test and $FERRY_BROKER the broker (CTest sets both). When the broker
does not advertise AlterPartitionReassignments (API 45) the reassignment tests check that the CLI
says so and skip.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))

import kafka_wire  # noqa: E402
from cluster_faults import Region, new_topic  # noqa: E402
from ferry_harness import BrokerTestCase, consume_all, create_topics, produce_all, wait_until  # noqa: E402
from test_admin import admin_binary, advertised_apis, run_admin, unique  # noqa: E402

API_ALTER_PARTITION_REASSIGNMENTS = 45
API_LIST_PARTITION_REASSIGNMENTS = 46
DESCRIBE_KEYS = ["cluster_id", "controller_id", "brokers", "topics", "partitions", "offline_partitions",
                 "under_replicated_partitions", "unhealthy_partitions"]
# A finished move shows in Metadata within this bound; ISR shrink after a SIGKILL (the region's
# replica.lag.time.max.ms is 4 s, its broker session 3 s) too.
MOVE_LIMIT_S = 60
SHRINK_LIMIT_S = 30


def broker_view(broker):
    """What one broker's Metadata v1 says: {topic: {partition: (leader, replicas, isr)}}."""
    with kafka_wire.Connection("127.0.0.1", broker.port) as c:
        r = kafka_wire.Reader(c.request(3, 1, kafka_wire.metadata_v1_body(None)))
    r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))  # brokers
    r.i32()  # controller
    out = {}
    for _ in range(r.i32()):
        r.i16()  # error
        name = r.string()
        r.i8()  # is_internal
        parts = r.array(lambda r: (r.i16(), r.i32(), r.i32(), r.array(kafka_wire.Reader.i32),
                                   r.array(kafka_wire.Reader.i32)))
        out[name] = {p: (leader, replicas, isr) for _e, p, leader, replicas, isr in parts}
    return out


class RegionCase(BrokerTestCase):
    """One region of three brokers shared by the tests of a class."""

    @classmethod
    def setUpClass(cls):
        admin_binary()
        cls.region = Region(3)
        cls.addClassCleanup(cls.region.close)
        cls._class_brokers = list(cls.region.brokers)  # their log tails print when a test fails

    def admin(self, *args, ok=True, json_out=False, timeout_ms=10000):
        p = run_admin(args, bootstrap=self.region.bootstrap, json_out=json_out, timeout_ms=timeout_ms)
        if ok and p.returncode != 0:
            self.fail(f"ferry-admin {' '.join(args)} exited {p.returncode}; stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def admin_json(self, *args, ok=True):
        p = self.admin(*args, ok=ok, json_out=True)
        return p, json.loads(p.stdout)

    def settle(self, topic, partitions, isr):
        """Waits until every running broker's Metadata shows `topic` with `partitions` partitions, each
        with an ISR of `isr` (brokers learn of changes from etcd one by one, and the CLI may ask any)."""
        def same_everywhere():
            for b in self.region.brokers:
                if not b.running():
                    continue
                parts = broker_view(b).get(topic, {})
                if len(parts) != partitions or any(len(i) != isr for _, _, i in parts.values()):
                    return False
            return True
        wait_until(same_everywhere, 30, what=f"every broker showing {topic} with {partitions} partitions, ISR {isr}")


class ClusterDescribeTest(RegionCase):
    def describe(self):
        p, doc = self.admin_json("cluster", "describe")
        self.assertEqual(list(doc), DESCRIBE_KEYS, "the JSON document's keys, in order")
        return doc

    def test_1_healthy_region(self):
        topic = new_topic(self.region, unique("adm-healthy"), partitions=3)
        self.settle(topic, 3, 3)
        doc = self.describe()
        self.assertIsInstance(doc["cluster_id"], str)
        self.assertTrue(doc["cluster_id"])
        self.assertIn(doc["controller_id"], (1, 2, 3))
        self.assertEqual(doc["brokers"], [{"id": b.node_id, "host": "127.0.0.1", "port": b.port, "rack": None}
                                          for b in self.region.brokers])
        self.assertGreaterEqual(doc["topics"], 1)
        self.assertGreaterEqual(doc["partitions"], 3)
        self.assertEqual((doc["offline_partitions"], doc["under_replicated_partitions"], doc["unhealthy_partitions"]),
                         (0, 0, []))

        lines = self.admin("cluster", "describe").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["Cluster", "id:", doc["cluster_id"]])
        self.assertEqual(lines[1].split(), ["Controller:", str(doc["controller_id"])])
        heads = [line.split() for line in lines]
        self.assertIn(["BROKER", "HOST", "PORT", "RACK"], heads, "\n".join(lines))
        at = heads.index(["BROKER", "HOST", "PORT", "RACK"])
        self.assertEqual([line.split() for line in lines[at + 1:at + 4]],
                         [[str(b.node_id), "127.0.0.1", str(b.port), "-"] for b in self.region.brokers])
        self.assertIn(f"Topics: {doc['topics']}  Partitions: {doc['partitions']}  Offline: 0  Under-replicated: 0",
                      lines)
        self.assertEqual(lines[-1], "Every partition has a leader and a full ISR.")

    def test_2_sigkilled_broker_shows_under_replicated_partitions(self):
        topic = new_topic(self.region, unique("adm-urp"), partitions=3)
        self.settle(topic, 3, 3)
        controller = self.describe()["controller_id"]
        victim = next(b for b in self.region.brokers if b.node_id != controller)  # DescribeCluster stays put
        victim.kill()
        live = sorted(b.node_id for b in self.region.brokers if b.running())

        def under_replicated():
            doc = self.describe()
            mine = {u["partition"]: u for u in doc["unhealthy_partitions"] if u["topic"] == topic}
            return doc if len(mine) == 3 else None
        doc = wait_until(under_replicated, SHRINK_LIMIT_S, interval=0.5,
                         what=f"the 3 partitions of {topic} under-replicated after SIGKILL of broker {victim.node_id}")
        self.assertGreaterEqual(doc["under_replicated_partitions"], 3)
        self.assertEqual(doc["under_replicated_partitions"], len(doc["unhealthy_partitions"]))
        for u in (u for u in doc["unhealthy_partitions"] if u["topic"] == topic):
            self.assertEqual(sorted(u["replicas"]), [1, 2, 3], u)
            self.assertNotIn(victim.node_id, u["isr"], u)
            self.assertIn(u["leader"], live, u)
            self.assertEqual((u["offline"], u["under_replicated"]), (False, True), u)

        # A dead broker leaves DescribeCluster's live brokers once its session expires.
        wait_until(lambda: [b["id"] for b in self.describe()["brokers"]] == live, SHRINK_LIMIT_S, interval=0.5,
                   what=f"DescribeCluster without broker {victim.node_id}")

        def table_rows():  # exit 0 whatever the health; a broker may still be catching up
            out = self.admin("cluster", "describe").stdout
            rows = [line.split() for line in out.splitlines() if line.startswith(topic + " ")]
            return rows if [r[1] for r in rows] == ["0", "1", "2"] else None
        rows = wait_until(table_rows, SHRINK_LIMIT_S, interval=0.5, what=f"the table listing {topic}'s 3 partitions")
        for r in rows:
            self.assertEqual(r[-1], "under-replicated", rows)
            self.assertNotIn(str(victim.node_id), r[4].split(","), rows)


class ReassignTest(RegionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.apis = advertised_apis(cls.region.brokers[0])
        cls.tmp = tempfile.mkdtemp(prefix="ferry-admin-reassign-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def setUp(self):
        if API_ALTER_PARTITION_REASSIGNMENTS in self.apis and API_LIST_PARTITION_REASSIGNMENTS in self.apis:
            return
        plan = self.plan([("t", 0, [1])])
        p = self.admin("topics", "reassign", "--reassignment-json-file", plan, "--execute", ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("_UNSUPPORTED_FEATURE", p.stderr)
        self.assertIn("the broker does not support AlterPartitionReassignments", p.stderr)
        self.skipTest("the broker does not advertise AlterPartitionReassignments/ListPartitionReassignments")

    def plan(self, entries):
        """A reassignment file of (topic, partition, replicas) entries; returns its path."""
        path = os.path.join(self.tmp, unique("plan") + ".json")
        with open(path, "w") as f:
            json.dump({"version": 1, "partitions": [{"topic": t, "partition": p, "replicas": r}
                                                   for t, p, r in entries]}, f)
        return path

    def rf2_topic(self, prefix):
        topic = unique(prefix)
        create_topics(self.region, topic, partitions=1, replication_factor=2)
        self.settle(topic, 1, 2)
        return topic, list(self.region.partition(topic).replicas)

    def reassign(self, mode, plan, ok=True, json_out=False):
        return self.admin("topics", "reassign", "--reassignment-json-file", plan, mode, ok=ok, json_out=json_out)

    def test_execute_verify_list_moves_a_partition_and_keeps_its_records(self):
        topic, current = self.rf2_topic("adm-move")
        values = [f"v{i}".encode() for i in range(300)]
        produce_all(self.region, topic, [{"value": v} for v in values])
        newcomer = next(b for b in (1, 2, 3) if b not in current)
        target = [newcomer, current[1]]
        plan = self.plan([(topic, 0, target)])

        p = self.reassign("--execute", plan)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "Current partition replica assignment", p.stdout)
        self.assertEqual(json.loads(lines[2]),
                         {"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": current}]})
        self.assertIn("Save this to use as the --reassignment-json-file option during rollback", lines)
        self.assertEqual(lines[-1].split(), [topic, "0", ",".join(map(str, target)), "started"], p.stdout)

        _, listed = self.admin_json("topics", "reassign", "--list")
        for r in (r for r in listed["reassignments"] if r["topic"] == topic):  # unless already done
            self.assertEqual((r["partition"], r["adding"], r["removing"]), (0, [newcomer], [current[0]]), r)
            self.assertEqual(sorted(r["replicas"]), sorted(set(target) | set(current)), r)

        def verified():
            v = self.reassign("--verify", plan, ok=False)
            status = v.stdout.splitlines()[-1] if v.stdout else v.stderr
            if v.returncode == 1:
                self.assertIn("in progress", status, f"a move still running is 'in progress':\n{v.stdout}{v.stderr}")
            return v if v.returncode == 0 else None
        v = wait_until(verified, MOVE_LIMIT_S, interval=0.5, what=f"--verify of {topic}-0 -> {target} exiting 0")
        self.assertEqual(v.stdout.splitlines()[-1].split(), [topic, "0", ",".join(map(str, target)), "complete"])
        _, doc = self.admin_json("topics", "reassign", "--reassignment-json-file", plan, "--verify")
        self.assertEqual(doc, {"partitions": [{"topic": topic, "partition": 0, "target": target,
                                               "status": "complete", "replicas": target}], "complete": True})

        wait_until(lambda: list(self.region.partition(topic).replicas) == target, 10,
                   what=f"Metadata of every broker showing {topic}-0 on {target}")
        got = consume_all(self.region, topic)[0]
        self.assertEqual([m.value() for m in got], values)
        self.assertEqual([m.offset() for m in got], list(range(len(values))))

        _, listed = self.admin_json("topics", "reassign", "--list")
        self.assertNotIn(topic, [r["topic"] for r in listed["reassignments"]])
        out = self.admin("topics", "reassign", "--list").stdout
        self.assertNotIn(topic, out)

    def test_cancel_with_nothing_in_progress_reports_it_per_partition(self):
        topic, current = self.rf2_topic("adm-cancel")
        plan = self.plan([(topic, 0, current)])
        p = self.reassign("--cancel", plan)
        self.assertEqual(p.stdout.splitlines()[0].split(), ["TOPIC", "PARTITION", "RESULT"])
        self.assertEqual(p.stdout.splitlines()[1].split()[:3], [topic, "0", "NO_REASSIGNMENT_IN_PROGRESS:"], p.stdout)
        p = self.reassign("--cancel", plan, json_out=True)
        doc = json.loads(p.stdout)
        self.assertEqual([(c["topic"], c["partition"], c["error"]) for c in doc["cancellations"]],
                         [(topic, 0, "NO_REASSIGNMENT_IN_PROGRESS")])
        self.assertEqual(list(self.region.partition(topic).replicas), current)

    def test_unknown_broker_is_an_invalid_replica_assignment(self):
        topic, current = self.rf2_topic("adm-bad99")
        plan = self.plan([(topic, 0, [current[0], 99])])
        p = self.reassign("--execute", plan, ok=False, json_out=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        doc = json.loads(p.stdout)  # exactly one document: the rollback went to stderr
        self.assertEqual([(r["topic"], r["partition"], r["replicas"], r["error"]) for r in doc["reassignments"]],
                         [(topic, 0, [current[0], 99], "INVALID_REPLICA_ASSIGNMENT")])
        self.assertIn("Current partition replica assignment", p.stderr)
        self.assertIn("ferry-admin: INVALID_REPLICA_ASSIGNMENT: 1 of 1 partition reassignments were not started",
                      p.stderr)
        time.sleep(1)
        self.assertEqual(list(self.region.partition(topic).replicas), current, "nothing moved")

    def test_unknown_partition_is_reported_per_partition(self):
        topic, current = self.rf2_topic("adm-nopart")
        plan = self.plan([(topic, 5, current)])
        p = self.reassign("--execute", plan, ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"(not in Metadata, so not above: {topic}-5)", p.stdout)
        self.assertEqual(p.stdout.splitlines()[-1].split()[:4],
                         [topic, "5", ",".join(map(str, current)), "UNKNOWN_TOPIC_OR_PARTITION:"], p.stdout)
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", p.stderr)

    def test_verify_of_a_move_that_never_happened_fails(self):
        topic, current = self.rf2_topic("adm-never")
        plan = self.plan([(topic, 0, list(reversed(current)))])  # same brokers, other order: not complete
        p = self.reassign("--verify", plan, ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"failed: replicas are {','.join(map(str, current))}, not "
                      f"{','.join(map(str, reversed(current)))}, and no reassignment is in progress", p.stdout)
        self.assertIn("1 of 1 reassignments are not complete (0 in progress, 1 failed)", p.stderr)

    def test_bad_file_and_modes_are_usage_errors(self):
        plan = os.path.join(self.tmp, "dup.json")
        with open(plan, "w") as f:
            f.write('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}')
        p = self.reassign("--execute", plan, ok=False)
        self.assertEqual((p.returncode, p.stdout), (2, ""))
        self.assertIn(f'--reassignment-json-file {plan}: partitions[0] (t-0): "replicas" names broker 1 twice',
                      p.stderr)
        p = self.admin("topics", "reassign", "--reassignment-json-file", plan, "--execute", "--cancel", ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("give exactly one of --execute, --verify, --cancel or --list (2 given)", p.stderr)
        p = self.admin("topics", "reassign", "--verify", ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing required option --reassignment-json-file", p.stderr)


if __name__ == "__main__":
    unittest.main()
