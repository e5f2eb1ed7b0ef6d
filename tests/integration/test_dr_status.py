"""ferry-dr's health view of two real regions and a real mirror flow: `status --json` shows both
regions up with their partitions and the flow's exact lag; a stopped region makes status exit 1
and name it down; `watch` exports the same as Prometheus metrics and logs the change once; the
cluster role written with ferry-dr's IncrementalAlterConfigs client reads back, and a bad value is
refused with the broker's error. Registered as it_dr_status (FERRY_DR, FERRY_MIRROR)."""

import fcntl
import json
import os
import re
import unittest

from dr_harness import DR, dr_binary
from ferry_harness import BrokerTestCase, admin, create_topics, mirror_binary, produce_all, wait_until


def user_partitions(broker):
    md = admin(broker).list_topics(timeout=10)
    return sum(len(t.partitions) for name, t in md.topics.items() if not name.startswith("__"))


class DrStatusTest(BrokerTestCase):
    def setUp(self):
        dr_binary()
        mirror_binary()

    def dr(self, *a, **kw):
        d = DR(*a, **kw)
        self.addCleanup(d.close)
        self.__dict__.setdefault("_processes", []).append(d)
        return d

    def test_status_watch_and_role(self):
        east = self.start_broker()
        west = self.start_broker()
        create_topics(east, "orders", partitions=3)
        produce_all(east, "orders", [{"value": f"v{i}".encode(), "partition": i % 3} for i in range(30)])
        mirror = self.start_mirror({"east": east, "west": west},
                                   [{"source": "east", "target": "west", "topics": ["orders"],
                                     "emit.heartbeats.interval.seconds": 1,
                                     # The heartbeats topic the mirror creates on the source must be
                                     # discovered soon for the flow to show a heartbeat age.
                                     "refresh.topics.interval.seconds": 1}])
        dr = self.dr({"east": east, "west": west}, [("east", "west", [mirror])],
                     # Heartbeats every second keep a record or two in flight at any instant;
                     # a small allowance keeps "lagging" from flickering in this test.
                     policy={"heartbeat.max.age.seconds": 30, "max.data.loss.records": 100})

        # Both brokers start in the primary role: two writable regions is unhealthy (issue 13
        # defect 4) until the flow's target is standby.
        rc, s = dr.status_json()
        self.assertEqual(rc, 1)
        self.assertTrue(any("2 regions answer in the primary role (east, west)" in p for p in s["problems"]), s["problems"])
        self.assertEqual(dr.run("role", "west", "standby").returncode, 0)
        last = {}

        def caught_up():
            rc, s = dr.status_json()
            last.update(rc=rc, report=s)
            flow = s["flows"][0]
            # The flow also carries MM2's heartbeats topic once it exists; count only orders.
            orders = [p for p in flow["partitions"] if p["topic"] == "orders"]
            done = sum(p["next_offset"] for p in orders) == 30
            return rc == 0 and sum(p["lag_records"] for p in orders) == 0 and len(orders) == 3 and done and s
        try:
            report = wait_until(caught_up, 30, interval=0.5, what="status healthy with the flow caught up")
        except AssertionError:
            raise AssertionError(f"last status --json (exit {last.get('rc')}): {json.dumps(last.get('report'))}")
        regions = {r["region"]: r for r in report["regions"]}
        self.assertEqual(regions["east"]["state"], "healthy")
        # Every partition of every non-internal topic (the mirror adds its own topics on both sides).
        self.assertEqual(regions["east"]["partitions"], user_partitions(east))
        self.assertEqual(regions["west"]["partitions"], user_partitions(west))
        self.assertEqual(regions["east"]["brokers"], 1)
        self.assertGreaterEqual(regions["east"]["controller_id"], 0)
        self.assertEqual(regions["east"]["role"], "primary")
        flow = report["flows"][0]
        self.assertEqual((flow["flow"], flow["state"]), ("east->west", "ok"))
        self.assertEqual(sorted((p["partition"], p["next_offset"], p["source_end_offset"])
                                for p in flow["partitions"] if p["topic"] == "orders"),
                         [(0, 10, 10), (1, 10, 10), (2, 10, 10)])

        table = dr.run("status")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertRegex(table.stdout, r"REGION\s+STATE")
        self.assertIn("all healthy", table.stdout)

        # The role client: standby on west, read back by DescribeConfigs; a bad value is refused.
        p = dr.run("role", "west", "standby")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(dr.run("role", "west").stdout.split(), ["west", "standby"])
        _, s = dr.status_json()
        self.assertEqual({r["region"]: r["role"] for r in s["regions"]}, {"east": "primary", "west": "standby"})
        p = dr.run("role", "west", "primary")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(dr.run("role", "west").stdout.split(), ["west", "primary"])
        table = dr.run("status")
        self.assertEqual(table.returncode, 1)
        self.assertIn("split brain", table.stdout)
        p = dr.run("role", "north", "primary")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown region", p.stderr)

        dr.start_watch()
        # No failover ever ran and west is the target of a running flow: watch fences it on its
        # first evaluations, audited, and the deployment is healthy again.
        wait_until(lambda: dr.run("role", "west").stdout.split() == ["west", "standby"], 20, interval=0.5,
                   what="watch fencing west, the flow's target")
        wait_until(lambda: dr.status_json()[0] == 0, 20, interval=0.5, what="status healthy after the fence")
        with open(dr.audit_log) as f:
            fences = [json.loads(line) for line in f if '"watch fence"' in line]
        self.assertEqual([(a["result"], a["details"]["region"]) for a in fences], [("ok", "west")])
        self.assertIn("target of a running flow", fences[0]["reason"])
        wait_until(lambda: 'ferry_dr_region_up{region="west"} 1' in dr.get("/metrics"), 20,
                   what="watch exporting west up")
        wait_until(lambda: "ferry_dr_primary_regions 1\n" in dr.get("/metrics"), 20, interval=0.5,
                   what="watch exporting one primary")
        metrics = dr.get("/metrics")
        self.assertIn('ferry_dr_region_role{region="east",role="primary"} 1', metrics)
        # Heartbeats keep flowing, so the exported lag may be a record or two at any instant.
        self.assertRegex(metrics, r'ferry_dr_flow_lag_records\{flow="east->west"\} \d+\n')
        self.assertIn('ferry_dr_flow_up{flow="east->west"} 1', metrics)
        self.assertRegex(metrics, r'ferry_dr_region_offline_partitions\{region="east"\} 0')
        self.assertEqual(json.loads(dr.get("/status"))["regions"][0]["region"], "east")

        west.stop()
        rc, s = dr.status_json()
        self.assertEqual(rc, 1)
        regions = {r["region"]: r for r in s["regions"]}
        self.assertEqual(regions["west"]["state"], "down")
        self.assertEqual(regions["east"]["state"], "healthy")
        table = dr.run("status")
        self.assertEqual(table.returncode, 1)
        self.assertRegex(table.stdout, r"region west: unreachable")

        wait_until(lambda: 'ferry_dr_region_up{region="west"} 0' in dr.get("/metrics"), 30,
                   what="watch exporting west down")
        wait_until(lambda: "region west: healthy -> down" in dr.log_text(), 10, what="state change logged")
        self.assertEqual(dr.stop(), 0)
        self.assertEqual(len(re.findall(r"region west: healthy -> down", dr.log_text())), 1,
                         "a state change is logged once, not every tick")

        verify = dr.run("audit", "verify")
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        with open(dr.audit_log) as f:
            entries = [json.loads(line) for line in f]
        self.assertIn(("role set", "ok"), [(e["what"], e["result"]) for e in entries])
        self.assertIn(("watch", "started"), [(e["what"], e["result"]) for e in entries])

        # An operation in progress (another holder of the lock) refuses a role change: exit 3,
        # naming the holder; nothing is changed.
        with open(os.path.join(dr.state_dir, "lock"), "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock.truncate(0)
            lock.write("4242 1700000000000 ferry-dr failover --to west\n")
            lock.flush()
            p = dr.run("role", "east", "standby")
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("pid 4242", p.stderr)
            self.assertIn("failover --to west", p.stderr)
        self.assertEqual(dr.run("role", "east").stdout.split(), ["east", "primary"])

        # A corrupt journal: status still prints, then exits 4 naming the file and line.
        with open(os.path.join(dr.state_dir, "journal.jsonl"), "w") as f:
            f.write("not json\n")
        p = dr.run("status")
        self.assertEqual(p.returncode, 4)
        self.assertIn("journal.jsonl line 1", p.stderr)


if __name__ == "__main__":
    unittest.main()
