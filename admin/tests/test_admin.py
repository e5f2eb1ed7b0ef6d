"""ferry-admin against a real ferry-broker: what an operator sees on stdout, stderr and the exit
status, cross-checked with an independent client (confluent-kafka) where the CLI changes state.

$FERRY_ADMIN is the CLI under test and $FERRY_BROKER the broker (CTest sets both). Features the
broker does not serve yet are detected from its ApiVersions reply and the tests for them skip
with that reason; the CLI must still report such an API as _UNSUPPORTED_FEATURE, not hang.
"""

import json
import os
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))

import kafka_wire  # noqa: E402
from ferry_harness import (BrokerTestCase, consumer, create_topics, free_port,  # noqa: E402
                           partition_count, produce_all, wait_until)

API_DESCRIBE_CONFIGS = 32
API_ALTER_CONFIGS = 33

# Bounds a CLI run that should finish; far above any --timeout-ms used here, so it only ever
# catches a hang, never judges speed.
RUN_LIMIT_S = 60


def admin_binary():
    path = os.environ.get("FERRY_ADMIN", "")
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"FERRY_ADMIN not set to an executable ferry-admin (got {path!r})")
    return path


def run_admin(args, bootstrap=None, timeout_ms=10000, json_out=False):
    """Runs ferry-admin; returns CompletedProcess (text). Global options go first."""
    cmd = [admin_binary()]
    if bootstrap:
        cmd += ["--bootstrap-server", bootstrap]
    if timeout_ms is not None:
        cmd += ["--timeout-ms", str(timeout_ms)]
    if json_out:
        cmd.append("--json")
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_LIMIT_S,
                          stdin=subprocess.DEVNULL)


def advertised_apis(broker):
    """{api_key: (min, max)} from the broker's ApiVersions v0 reply."""
    with kafka_wire.Connection("127.0.0.1", broker.port) as c:
        err, apis = kafka_wire.parse_api_versions_v0(c.request(18, 0, b""))
    if err:
        raise AssertionError(f"ApiVersions v0 answered error {err}")
    return apis


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class AdminCase(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        admin_binary()
        cls.broker = cls.start_class_broker()
        cls.apis = advertised_apis(cls.broker)

    def admin(self, *args, ok=True, **kw):
        p = run_admin(args, bootstrap=self.broker.bootstrap, **kw)
        if ok and p.returncode != 0:
            self.fail(f"ferry-admin {' '.join(args)} exited {p.returncode}; stderr:\n{p.stderr}")
        return p

    def admin_json(self, *args):
        p = self.admin(*args, json_out=True)
        return json.loads(p.stdout)

    def assertFailed(self, p, code):
        """Exit 1 with the error code name on stderr and nothing on stdout."""
        self.assertEqual(p.returncode, 1, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        self.assertIn(code, p.stderr)
        self.assertEqual(p.stdout, "")


class TopicsTest(AdminCase):
    def test_table_round_trip(self):
        topic = unique("adm-table")
        p = self.admin("topics", "create", "--topic", topic, "--partitions", "3")
        self.assertIn(f"Created topic {topic}", p.stdout)
        wait_until(lambda: partition_count(self.broker, topic) == 3, 20,
                   what=f"{topic} with 3 partitions in metadata")

        self.assertIn(topic, self.admin("topics", "list").stdout.splitlines())

        lines = self.admin("topics", "describe", "--topic", topic).stdout.splitlines()
        self.assertEqual(lines[0].split(), ["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"])
        rows = [line.split() for line in lines[1:]]
        self.assertEqual([r[:2] for r in rows], [[topic, "0"], [topic, "1"], [topic, "2"]])
        for r in rows:
            self.assertEqual(r[2:], ["1", "1", "1"], "single broker node.id 1 leads and replicates")
        # Columns line up: every row's PARTITION cell starts where the header's does.
        col = lines[0].index("PARTITION")
        for line in lines[1:]:
            self.assertNotEqual(line[col], " ")
            self.assertEqual(line[col - 1], " ")

        p = self.admin("topics", "delete", "--topic", topic)
        self.assertIn(f"Deleted topic {topic}", p.stdout)
        wait_until(lambda: partition_count(self.broker, topic) == 0, 20,
                   what=f"{topic} gone from metadata")
        self.assertNotIn(topic, self.admin("topics", "list").stdout.splitlines())

    def test_json_round_trip(self):
        topic = unique("adm-json")
        self.assertEqual(self.admin_json("topics", "create", "--topic", topic, "--partitions", "2"),
                         {"created": topic})
        wait_until(lambda: partition_count(self.broker, topic) == 2, 20,
                   what=f"{topic} with 2 partitions in metadata")
        self.assertIn(topic, self.admin_json("topics", "list")["topics"])

        doc = self.admin_json("topics", "describe", "--topic", topic)
        self.assertEqual(len(doc["topics"]), 1)
        t = doc["topics"][0]
        self.assertEqual((t["name"], t["partition_count"], t["replication_factor"]), (topic, 2, 1))
        self.assertEqual([p["partition"] for p in t["partitions"]], [0, 1])
        for p in t["partitions"]:
            self.assertEqual((p["leader"], p["replicas"], p["isr"], p["error"]), (1, [1], [1], None))

        # describe without --topic covers this topic too
        every = self.admin_json("topics", "describe")["topics"]
        self.assertIn(topic, [x["name"] for x in every])

        self.assertEqual(self.admin_json("topics", "delete", "--topic", topic), {"deleted": topic})
        wait_until(lambda: partition_count(self.broker, topic) == 0, 20,
                   what=f"{topic} gone from metadata")
        self.assertNotIn(topic, self.admin_json("topics", "list")["topics"])

    def test_create_existing_topic_fails_with_broker_code(self):
        topic = unique("adm-dup")
        create_topics(self.broker, topic, partitions=1)
        self.assertFailed(self.admin("topics", "create", "--topic", topic, "--partitions", "1",
                                     ok=False), "TOPIC_ALREADY_EXISTS")
        self.assertEqual(partition_count(self.broker, topic), 1, "failed create left it alone")

    def test_unknown_topic_fails_with_broker_code(self):
        topic = unique("adm-missing")
        self.assertFailed(self.admin("topics", "describe", "--topic", topic, ok=False),
                          "UNKNOWN_TOPIC_OR_PART")
        self.assertFailed(self.admin("topics", "delete", "--topic", topic, ok=False),
                          "UNKNOWN_TOPIC_OR_PART")
        self.assertEqual(partition_count(self.broker, topic), 0, "describe must not auto-create")


class ConfigsTest(AdminCase):
    def require_api(self, key, name, *cli_args):
        """Skips unless the broker advertises `key`; when it does not, first checks that the CLI
        says so (_UNSUPPORTED_FEATURE) instead of hanging or claiming success."""
        if key in self.apis:
            return
        p = self.admin(*cli_args, ok=False, timeout_ms=5000)
        self.assertFailed(p, "_UNSUPPORTED_FEATURE")
        self.skipTest(f"broker does not advertise {name} (API key {key}) in ApiVersions")

    def test_describe_shows_topic_override(self):
        topic = unique("adm-cfg")
        create_topics(self.broker, topic, config={"retention.ms": "123456"})
        self.require_api(API_DESCRIBE_CONFIGS, "DescribeConfigs", "configs", "describe",
                         "--entity-type", "topics", "--entity-name", topic)

        out = self.admin("configs", "describe", "--entity-type", "topics", "--entity-name",
                         topic).stdout
        row = [line.split() for line in out.splitlines() if line.startswith("retention.ms ")]
        self.assertEqual(row, [["retention.ms", "123456", "DYNAMIC_TOPIC_CONFIG", "no"]])

        doc = self.admin_json("configs", "describe", "--entity-type", "topics", "--entity-name",
                              topic, "--all")
        self.assertEqual((doc["entity_type"], doc["entity_name"]), ("topic", topic))
        by_name = {c["name"]: c for c in doc["configs"]}
        self.assertEqual(by_name["retention.ms"]["value"], "123456")
        self.assertFalse(by_name["retention.ms"]["is_default"])
        defaults = [c for c in doc["configs"] if c["is_default"]]
        self.assertTrue(defaults, "--all includes default entries")

        self.assertFailed(self.admin("configs", "describe", "--entity-type", "topics",
                                     "--entity-name", unique("adm-nocfg"), ok=False),
                          "UNKNOWN_TOPIC_OR_PART")

    def test_alter_adds_and_deletes_overrides(self):
        topic = unique("adm-alter")
        create_topics(self.broker, topic, config={"retention.ms": "600000"})
        self.require_api(API_DESCRIBE_CONFIGS, "DescribeConfigs", "configs", "describe",
                         "--entity-type", "topics", "--entity-name", topic)
        self.require_api(API_ALTER_CONFIGS, "AlterConfigs", "configs", "alter", "--entity-type",
                         "topics", "--entity-name", topic, "--add-config", "retention.ms=1")

        def overrides():
            doc = self.admin_json("configs", "describe", "--entity-type", "topics",
                                  "--entity-name", topic)
            return {c["name"]: c["value"] for c in doc["configs"]
                    if c["source"] == "DYNAMIC_TOPIC_CONFIG"}

        self.admin("configs", "alter", "--entity-type", "topics", "--entity-name", topic,
                   "--add-config", "cleanup.policy=[compact,delete],max.message.bytes=2048")
        # retention.ms was not named, and AlterConfigs replaces the whole set: it must survive.
        self.assertEqual(overrides(), {"retention.ms": "600000", "cleanup.policy": "compact,delete",
                                       "max.message.bytes": "2048"})

        self.admin("configs", "alter", "--entity-type", "topics", "--entity-name", topic,
                   "--delete-config", "retention.ms,cleanup.policy")
        self.assertEqual(overrides(), {"max.message.bytes": "2048"})

        self.assertFailed(self.admin("configs", "alter", "--entity-type", "topics",
                                     "--entity-name", topic, "--delete-config", "retention.ms",
                                     ok=False), "INVALID_CONFIG")


class GroupsTest(AdminCase):
    def test_offsets_show_reset_and_delete(self):
        topic, group = unique("adm-grp"), unique("adm-group")
        create_topics(self.broker, topic, partitions=1)
        produce_all(self.broker, topic, [{"value": f"v{i}".encode()} for i in range(10)])
        c = consumer(self.broker, **{"group.id": group, "enable.auto.offset.store": True})
        try:
            c.subscribe([topic])
            got = 0
            deadline = time.monotonic() + 60
            while got < 10 and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got += 1
            self.assertEqual(got, 10)
            c.commit(asynchronous=False)
        finally:
            c.close()

        listed = {g["group"]: g for g in self.admin_json("groups", "list")["groups"]}
        self.assertEqual(listed[group]["state"], "Empty")

        def offsets():
            doc = self.admin_json("groups", "offsets", "show", "--group", group)
            return [(o["topic"], o["partition"], o["current_offset"], o["log_end_offset"],
                     o["lag"]) for o in doc["offsets"]]

        self.assertEqual(offsets(), [(topic, 0, 10, 10, 0)])

        dry = self.admin_json("groups", "offsets", "reset", "--group", group, "--topic", topic,
                              "--to-earliest")
        self.assertEqual(dry["executed"], False)
        self.assertEqual([(o["current_offset"], o["new_offset"]) for o in dry["offsets"]],
                         [(10, 0)])
        self.assertEqual(offsets(), [(topic, 0, 10, 10, 0)], "a dry run commits nothing")

        self.admin("groups", "offsets", "reset", "--group", group, "--topic", f"{topic}:0",
                   "--to-offset", "3", "--execute")
        self.assertEqual(offsets(), [(topic, 0, 3, 10, 7)])
        self.assertEqual(self.first_record_for(group, topic), (3, b"v3"),
                         "a consumer of the group resumes at the reset offset")
        self.admin("groups", "offsets", "reset", "--group", group, "--topic", topic,
                   "--shift-by", "-1", "--execute")
        self.assertEqual(offsets(), [(topic, 0, 2, 10, 8)])
        self.admin("groups", "offsets", "reset", "--group", group, "--topic", topic,
                   "--to-offset", "999", "--execute")
        self.assertEqual(offsets(), [(topic, 0, 10, 10, 0)], "targets clamp to the log end")

        desc = self.admin_json("groups", "describe", "--group", group)
        self.assertEqual((desc["state"], desc["members"]), ("Empty", []))

        self.admin("groups", "delete", "--group", group)
        self.assertNotIn(group, [g["group"] for g in self.admin_json("groups", "list")["groups"]])


    def first_record_for(self, group, topic):
        """(offset, value) of the first record a new member of `group` receives; commits nothing."""
        c = consumer(self.broker, **{"group.id": group})
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    return m.offset(), m.value()
            self.fail(f"group {group} received nothing from {topic}")
        finally:
            c.close()


class UsageTest(unittest.TestCase):
    """Command-line mistakes: exit 2, the offending argument named on stderr, nothing on stdout.
    None of these reach a broker (the bootstrap address is never contacted)."""

    BOOT = ["--bootstrap-server", "127.0.0.1:9"]

    def check_usage(self, args, *needles):
        p = run_admin(args, timeout_ms=None)
        self.assertEqual(p.returncode, 2, f"{args}: stdout {p.stdout!r} stderr {p.stderr!r}")
        self.assertEqual(p.stdout, "")
        for n in needles:
            self.assertIn(n, p.stderr)

    def test_bad_arguments_exit_2_naming_the_argument(self):
        self.check_usage(self.BOOT + ["topics", "create", "--topic", "t", "--partitions", "abc"],
                         "--partitions", "abc")
        self.check_usage(self.BOOT + ["topics", "create", "--topic", "t", "--partitions", "0"],
                         "--partitions")
        self.check_usage(self.BOOT + ["topics", "create"], "--topic")
        self.check_usage(self.BOOT + ["topics", "create", "--topic", "t", "--config", "nokey"],
                         "--config", "nokey")
        self.check_usage(self.BOOT + ["topics", "list", "--frobnicate"], "--frobnicate")
        self.check_usage(self.BOOT + ["topics", "list", "--group", "g"], "--group")
        self.check_usage(self.BOOT + ["topicz", "list"], "topicz")
        self.check_usage(self.BOOT + ["topics", "lst"], "lst")
        self.check_usage(self.BOOT + ["topics"], "topics")
        self.check_usage(["topics", "list"], "--bootstrap-server")
        self.check_usage(self.BOOT + ["--timeout-ms", "soon", "topics", "list"], "--timeout-ms")
        self.check_usage(self.BOOT + ["topics", "list", "--timeout-ms"], "--timeout-ms")
        self.check_usage(self.BOOT + ["configs", "describe", "--entity-type", "users",
                                      "--entity-name", "x"], "--entity-type", "users")
        self.check_usage(self.BOOT + ["configs", "describe", "--entity-type", "brokers",
                                      "--entity-name", "one"], "--entity-name")
        self.check_usage(self.BOOT + ["configs", "alter", "--entity-type", "topics",
                                      "--entity-name", "t"], "--add-config")
        self.check_usage(self.BOOT + ["groups", "offsets", "reset", "--group", "g", "--topic", "t"],
                         "--to-earliest")
        self.check_usage(self.BOOT + ["groups", "offsets", "reset", "--group", "g", "--topic", "t",
                                      "--to-datetime", "yesterday"], "--to-datetime", "yesterday")
        self.check_usage(["--command-config", "/nonexistent/ferry.props", "topics", "list"],
                         "--command-config")

    def test_bad_value_message_names_option_value_and_expectation(self):
        self.check_usage(self.BOOT + ["topics", "create", "--topic", "t", "--partitions", "abc"],
                         "--partitions: expected an integer, got 'abc'")
        # Global options after the command words are parsed as globals too.
        self.check_usage(["topics", "list", "--timeout-ms", "soon"] + self.BOOT,
                         "--timeout-ms: expected an integer, got 'soon'")
        self.check_usage(self.BOOT + ["topics", "create", "--topic", "a", "--topic", "b"],
                         "--topic")
        self.check_usage(self.BOOT + ["topics", "list", "--group", "g"],
                         "option --group does not apply to 'topics list'")
        self.check_usage(self.BOOT + ["topics", "list", "--frobnicate"],
                         "unknown option --frobnicate", "ferry-admin topics list --help")

    def test_help_lists_every_option_with_description_and_default(self):
        p = run_admin(["groups", "offsets", "reset", "--help"], timeout_ms=None)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()

        def line_of(option):
            found = [line for line in lines if line.lstrip().startswith(option + " ")]
            self.assertEqual(len(found), 1, f"{option} once in:\n{p.stdout}")
            return found[0]

        self.assertIn("consumer group id (required)", line_of("--group G"))
        self.assertIn("(required) (repeatable)", line_of("--topic T[:P[,P]]"))
        for option in ("--to-offset N", "--to-datetime ISO8601", "--shift-by N", "--to-earliest",
                       "--to-latest", "--execute", "--bootstrap-server HOST:PORT[,HOST:PORT]",
                       "--command-config FILE", "--json"):
            self.assertRegex(line_of(option), r"\S+\s{2,}\w", f"{option} has a description")
        self.assertIn("(default: 30000)", line_of("--timeout-ms N"))
        self.assertIn("a librdkafka property, after --command-config", line_of("-X KEY=VALUE"))

    def test_no_help_says_repeatable_twice(self):
        # The formatter appends "(repeatable)" itself; descriptions must not say it again.
        for args in (["acls", "add", "--help"], ["acls", "list", "--help"], ["topics", "create", "--help"]):
            p = run_admin(args, timeout_ms=None)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("(repeatable)", p.stdout)
            self.assertNotIn("(repeatable) (repeatable)", p.stdout)

    def test_help_at_every_level(self):
        for args, needle in ((["--help"], "topics create"), (["groups", "--help"], "groups offsets reset"),
                             (["groups", "offsets", "--help"], "groups offsets show"),
                             (["topics", "create", "--help"], "--replication-factor"),
                             (["groups", "offsets", "reset", "--help"], "--execute")):
            p = run_admin(args, timeout_ms=None)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(needle, p.stdout)
            self.assertIn("--bootstrap-server", p.stdout)


class UnreachableTest(unittest.TestCase):
    def test_unreachable_bootstrap_fails_within_timeout(self):
        # A port that was free a moment ago: nothing listens, connections are refused.
        bootstrap = f"127.0.0.1:{free_port()}"
        for args in (["topics", "list"], ["topics", "create", "--topic", "t", "--partitions", "1"],
                     ["groups", "describe", "--group", "g"]):
            # The subprocess limit (RUN_LIMIT_S) turns a hang into a failure; --timeout-ms is
            # what must end it.
            p = run_admin(args, bootstrap=bootstrap, timeout_ms=1500)
            self.assertEqual(p.returncode, 1, f"{args}: {p.stderr}")
            self.assertEqual(p.stdout, "")
            self.assertRegex(p.stderr, r"_(TIMED_OUT|TRANSPORT)")
            self.assertIn("Connection refused", p.stderr, "the reason is passed on")

    def test_unreachable_bootstrap_never_crashes_on_exit(self):
        """Pins a defect found in issue 14: ferry-admin aborted with "free(): double free" in about
        one run of fifty against an unreachable cluster, when librdkafka delivered a connection error
        while the session was being torn down (its callback wrote to a string already destroyed).
        Each run must end with the clear error (exit 1), never a signal."""
        bootstrap = f"127.0.0.1:{free_port()}"
        args = [admin_binary(), "--bootstrap-server", bootstrap, "topics", "list", "--json", "--timeout-ms", "300"]
        crashed = []
        for _ in range(25):
            procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for _ in range(6)]
            for p in procs:
                _, err = p.communicate(timeout=60)
                if p.returncode != 1:
                    crashed.append((p.returncode, err.strip()[-200:]))
        self.assertEqual(crashed, [], "runs that did not end with exit 1")


if __name__ == "__main__":
    unittest.main()
