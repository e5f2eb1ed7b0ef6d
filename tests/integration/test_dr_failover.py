"""ferry-dr failover, failback, resume and drill against two real ferry-broker regions ("east",
"west") and a real ferry-mirror running east->west and the paused reverse flow west->east, both
with the identity policy (docs/dr.md "Failover"). Clients are python3-confluent-kafka; the
old primary is killed with SIGKILL; the orchestrator kills itself with SIGKILL at each step through
its FERRY_DR_CRASH_AT failpoint and `ferry-dr resume` finishes the job. Registered as
it_dr_failover (FERRY_BROKER, FERRY_MIRROR, FERRY_DR)."""

import fcntl
import json
import os
import threading
import time
import unittest

from confluent_kafka import KafkaError

from dr_harness import DR, dr_binary
from ferry_harness import (BrokerTestCase, consume_all, create_topics, mirror_binary, produce_all, producer,
                           wait_until)

REGION_CONFIG = {"group.initial.rebalance.delay.ms": 0}
FLOW_KEYS = {"replication.policy": "identity", "refresh.topics.interval.seconds": 1,
             "refresh.groups.interval.seconds": 1, "emit.checkpoints.interval.seconds": 1,
             "sync.group.offsets.interval.seconds": 1, "emit.heartbeats.interval.seconds": 1}

STEPS = ["precheck", "keep_aside", "sync_flow", "fence", "drain", "stop_flow", "promote", "redirect",
         "reverse", "verify", "report"]


def values(broker, topic):
    """Every record value of `topic` on `broker` as a set of strings."""
    return {m.value().decode() for msgs in consume_all(broker, topic, timeout=60).values() for m in msgs}


class DrFailoverCase(BrokerTestCase):
    def setUp(self):
        dr_binary()
        mirror_binary()

    def pair(self, policy=None):
        """east and west brokers, one mirror with east->west running and west->east paused, and a
        ferry-dr configured for both flows."""
        self.east = self.start_broker(REGION_CONFIG)
        self.west = self.start_broker(REGION_CONFIG)
        flows = [dict(FLOW_KEYS, source="east", target="west"),
                 dict(FLOW_KEYS, source="west", target="east", paused=True)]
        self.mirror = self.start_mirror({"east": self.east, "west": self.west}, flows)
        pol = {"drain.timeout.seconds": 30}
        pol.update(policy or {})
        self.dr = DR({"east": self.east, "west": self.west},
                     [("east", "west", [self.mirror]), ("west", "east", [self.mirror])], policy=pol)
        self.addCleanup(self.dr.close)
        self.__dict__.setdefault("_processes", []).append(self.dr)
        return self.east, self.west

    def ferry_dr(self, *args, expect=0, timeout=120, env=None):
        p = self.dr.run(*args, timeout=timeout, env=env)
        if expect is not None and p.returncode != expect:
            self.fail(f"ferry-dr {' '.join(args)} exited {p.returncode}, expected {expect}\n"
                      f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-5000:]}")
        return p

    def role(self, region):
        return self.ferry_dr("role", region).stdout.split()[-1]

    def wait_replicated(self, topic, partitions, timeout=30):
        """Waits until the east->west flow lists every partition of `topic`."""
        def listed():
            st = self.mirror.flow_status("east", "west")
            return len([p for p in st["partitions"] if p["topic"] == topic]) == partitions
        wait_until(listed, timeout, interval=0.2, what=f"mirror replicating {topic}")

    # ---- planned drill under load ----

    def test_planned_drill_under_load(self):
        self.pair()
        p = self.ferry_dr("drill", "--json", timeout=240)
        r = json.loads(p.stdout)
        w = r["workload"]
        self.assertTrue(r["passed"], p.stderr[-4000:])
        self.assertEqual(r["rpo_records"], 0)
        self.assertEqual(r["redelivered"], 0)
        self.assertGreater(w["produced_acknowledged"], 500)
        # Every acknowledged record was consumed exactly once across both regions.
        self.assertEqual(w["consumed"], w["produced_acknowledged"])
        self.assertEqual(w["consumed_unique"], w["produced_acknowledged"])
        self.assertEqual(w["consumed_never_acknowledged"], 0)
        # The producer was fenced on east and recovered on west, then back.
        self.assertGreater(w["produce_failures_retried"], 0)
        self.assertEqual([o["recovered_on"] for o in w["write_outages"]], ["west", "east"])
        for part in ("failover", "failback"):
            self.assertEqual(r[part]["outcome"], "ok")
            self.assertEqual(r[part]["mode"], "planned")
            self.assertTrue(r[part]["fenced"])
            self.assertGreater(r[part]["rto_ms"], 0)
        self.assertEqual(r["failover"]["to"], "west")
        self.assertEqual(r["failback"]["to"], "east")
        # The group's translated offsets were applied at each switch.
        self.assertIn("ferry-dr.drill", [g["group"] for g in r["failover"]["groups"] if g["synced"]])
        # Progress was shown while it ran, and the reports are on disk.
        self.assertIn("workload:", p.stderr)
        reports = os.listdir(os.path.join(self.dr.state_dir, "reports"))
        self.assertEqual(len([f for f in reports if f.endswith(".md")]), 3, reports)
        self.assertEqual(self.dr.state()["primary"], "east")
        self.assertEqual(self.role("east"), "primary")
        self.assertEqual(self.role("west"), "standby")
        print(f"\ndrill: RTO failover {r['rto_failover_ms']} ms, failback {r['rto_failback_ms']} ms, "
              f"{w['produced_acknowledged']} records, outages {[o['duration_ms'] for o in w['write_outages']]}")


if __name__ == "__main__":
    unittest.main()
