"""ferry-mirror's control API (docs/mirror.md, "Control API"), as ferry-dr uses it: pause a flow and
learn exactly what the target holds, checkpoint while paused, resume. Two ferry-broker regions,
"east" and "west", and the real ferry-mirror binary, observed only through Kafka clients, /status
and the HTTP answers.
"""

import json
import os
import re
import threading
import time
import unittest
import urllib.error
import urllib.request

from confluent_kafka import KafkaError, KafkaException

from ferry_harness import consume_all, consumer, create_topics, produce_all, producer, wait_until, watermarks
from test_mirror import FAST_REFRESH, MirrorTestCase, split_headers
from mirror_groups import commit_standalone, committed


def call(mirror, method, path, timeout=60):
    """(HTTP status, parsed JSON body or None) of `method` `path` on the mirror's status listener."""
    req = urllib.request.Request(mirror.status_url + path, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, None


def upstream_of(msg):
    ups = split_headers(msg)[1].get("ferry.upstream")
    return int(ups[0].decode().rsplit("/", 1)[1]) if ups else None


class Stream(threading.Thread):
    """Produces keyed records to every partition of a topic until stop(); `acked` counts them."""

    def __init__(self, broker, topic, partitions):
        super().__init__(daemon=True)
        self.p = producer(broker, **{"linger.ms": 5})
        self.topic, self.partitions = topic, partitions
        self.acked, self.errors = 0, []
        self._halt = threading.Event()

    def _done(self, err, _msg):
        if err:
            self.errors.append(err)
        else:
            self.acked += 1

    def run(self):
        i = 0
        while not self._halt.is_set():
            try:
                self.p.produce(self.topic, key=b"s%d" % i, value=b"stream-%d" % i,
                               partition=i % self.partitions, on_delivery=self._done)
                i += 1
            except BufferError:
                pass
            self.p.poll(0.001 if i % 50 else 0.005)
        self.p.flush(30)

    def stop(self):
        self._halt.set()
        if self.is_alive():
            self.join(60)


class ControlTest(MirrorTestCase):
    def flow(self, east, west, topics, **keys):
        return self.start_mirror({"east": east, "west": west},
                                 [dict(source="east", target="west", topics=topics, **FAST_REFRESH, **keys)])

    def test_pause_drains_holds_the_target_still_and_resume_copies_each_record_once(self):
        self.pause_and_resume(tasks=1)

    def test_a_flow_of_three_tasks_pauses_and_resumes_as_one(self):
        """tasks.max = 3: three members of the flow's group in one process, one partition each. Every
        task is asked to pause before any leaves the group, so none takes over partitions another is
        giving up, and the one answer lists every partition exactly as the target holds it."""
        self.pause_and_resume(tasks=3)

    def pause_and_resume(self, tasks):
        east, west = self.regions()
        create_topics(east, "orders", partitions=3)
        m = self.flow(east, west, ["orders"], **({"tasks.max": tasks} if tasks > 1 else {}))
        stream = Stream(east, "orders", 3)
        stream.start()
        self.addCleanup(stream.stop)
        wait_until(lambda: sum(p["next_offset"] for p in m.flow_status("east", "west")["partitions"]) > 300, 60,
                   what="the mirror to copy part of the stream")
        if tasks > 1:
            # The source's group coordinator says how many members the flow's group has (Debian's
            # confluent-kafka has no DescribeGroups).
            def members():
                gens = re.findall(r"group ferry-mirror\.east\.west: generation \d+ with (\d+) members", east.log_since_start())
                return bool(gens) and int(gens[-1]) == tasks, gens[-1:]
            self.poll_until(members, 60, f"{tasks} members in the flow's consumer group")
        # Paused under load: whatever was in flight must land before the answer.
        status, paused = call(m, "POST", "/flows/east/west/pause?timeout_ms=30000")
        stream.stop()
        self.assertEqual(status, 200, paused)
        self.assertEqual((paused["flow"], paused["state"]), ("east->west", "paused"))
        # The flow also replicates the source's heartbeats topic (docs/mirror.md, Heartbeats).
        orders = [p for p in paused["partitions"] if p["topic"] == "orders"]
        self.assertEqual(sorted(p["partition"] for p in orders), [0, 1, 2], paused)
        held = {p["partition"]: p["next_offset"] for p in orders}
        # next_offset is what west actually holds: exactly upstream offsets 0..next_offset-1.
        copies = consume_all(west, "east.orders", partitions=[0, 1, 2], timeout=60)
        for p in range(3):
            self.assertEqual([upstream_of(x) for x in copies[p]], list(range(held[p])), f"east.orders-{p}")
        for p in orders:
            self.assertEqual(p["lag_records"], p["source_end_offset"] - p["next_offset"], p)
            self.assertLessEqual(p["source_end_offset"], watermarks(east, "orders", p["partition"])[1], p)

        again = call(m, "POST", "/flows/east/west/pause?timeout_ms=5000")
        self.assertEqual(again[0], 200, again)
        self.assertEqual({p["partition"]: p["next_offset"] for p in again[1]["partitions"] if p["topic"] == "orders"},
                         held)

        produce_all(east, "orders", [{"key": b"late%d" % i, "value": b"while paused %d" % i, "partition": i % 3}
                                     for i in range(600)])
        ends = {p: watermarks(east, "orders", p)[1] for p in range(3)}
        # Bounded check: nothing reaches the target while paused.
        time.sleep(3)
        self.assertEqual({p: watermarks(west, "east.orders", p)[1] for p in range(3)},
                         {p: len(copies[p]) for p in range(3)}, "the target moved while the flow was paused")

        def lag_counts_what_was_produced():
            st = m.flow_status("east", "west")
            lag = {p["partition"]: p["lag_records"] for p in st["partitions"] if p["topic"] == "orders"}
            return st["state"] == "paused" and lag == {p: ends[p] - held[p] for p in range(3)}, st

        self.poll_until(lag_counts_what_was_produced, 30, "/status to show the lag the pause builds up")

        for _ in range(2):
            status, body = call(m, "POST", "/flows/east/west/resume")
            self.assertEqual((status, body), (200, {"flow": "east->west", "state": "running"}))
        self.wait_caught_up(m, east, west, {"orders": 3}, lambda t: f"east.{t}")
        self.assertEqual(m.flow_status("east", "west")["state"], "running")
        self.assertEqual(self.assert_exact_copy(east, west, "orders", "east.orders", 3), sum(ends.values()))

    def test_checkpoint_while_paused_translates_exactly_and_leaves_active_groups_alone(self):
        east, west = self.regions()
        create_topics(east, "ledger", partitions=2)
        create_topics(west, "east.ledger", partitions=2)
        # Records another writer put on the target first: downstream offsets differ from upstream
        # ones, so a translation that returned its input would fail.
        produce_all(west, "east.ledger", [{"value": b"foreign-%d" % i, "partition": i % 2} for i in range(7)])
        produce_all(east, "ledger", [{"key": b"k%d" % i, "value": b"v-%d" % i, "partition": i % 2} for i in range(400)])
        m = self.flow(east, west, ["ledger"], **{"emit.checkpoints.interval.seconds": 3600})
        self.wait_caught_up(m, east, west, {"ledger": 2}, lambda t: f"east.{t}", same_watermarks=False)
        status, paused = call(m, "POST", "/flows/east/west/pause")
        self.assertEqual(status, 200, paused)

        # A group consuming on west: its offsets are its own.
        busy = consumer(west, **{"group.id": "busy", "auto.offset.reset": "latest"})
        self.addCleanup(busy.close)
        busy.subscribe(["east.ledger"])
        wait_until(lambda: busy.poll(0.2) is None and len(busy.assignment()) == 2, 30, what="busy to join on west")
        commits = {"app": {("ledger", 0): 0, ("ledger", 1): 137},
                   "busy": {("ledger", 0): 10, ("ledger", 1): 10}}
        for g, c in commits.items():
            commit_standalone(east, g, c)

        src = consume_all(east, "ledger", partitions=[0, 1], timeout=60)
        dst = consume_all(west, "east.ledger", partitions=[0, 1], timeout=60)
        ends = {p: watermarks(west, "east.ledger", p)[1] for p in range(2)}

        def exact(p, u):
            return next((x.offset() for x in dst[p] if upstream_of(x) is not None and upstream_of(x) >= u), ends[p])

        def checkpoint():
            status, cp = call(m, "POST", "/flows/east/west/checkpoint?timeout_ms=30000")
            self.assertEqual(status, 200, cp)
            self.assertEqual(cp["flow"], "east->west")
            groups = {g["group"]: g for g in cp["groups"]}
            self.assertEqual(cp["checkpoints_emitted"], 2 * len(commits), cp)
            for g in commits:
                got = {(o["topic"], o["partition"]): (o["upstream"], o["downstream"]) for o in groups[g]["offsets"]}
                want = {(f"east.{t}", p): (u, exact(p, u)) for (t, p), u in commits[g].items()}
                self.assertEqual(got, want, g)
                self.assertTrue(all(d != u for u, d in want.values()), want)
            self.assertEqual((groups["app"]["synced"], groups["app"]["reason"]), (True, None))
            self.assertEqual((groups["busy"]["synced"], groups["busy"]["reason"]), (False, "active group"))
            self.assertEqual(committed(west, "busy", [("east.ledger", 0), ("east.ledger", 1)]),
                             {("east.ledger", 0): None, ("east.ledger", 1): None}, "an active group was moved")
            self.assertIsNotNone(m.flow_status("east", "west")["last_checkpoint_ms"])
            return groups

        # The paused process kept its partitions' mappings.
        checkpoint()
        # A process that starts paused never owned the partitions: it rebuilds every mapping from
        # the target and the offset-syncs topic.
        m.stop()
        m.flows[0]["paused"] = True
        m.start()
        commits["app2"] = {("ledger", 0): 200, ("ledger", 1): 55}
        commit_standalone(east, "app2", commits["app2"])
        self.assertEqual(checkpoint()["app2"]["synced"], True)

        # A consumer of the synced group on west reads exactly what the group had not read on east.
        for g in ("app", "app2"):
            c = consumer(west, **{"group.id": g, "enable.partition.eof": True})
            try:
                c.subscribe(["east.ledger"])
                got, pending = {0: [], 1: []}, {0, 1}
                deadline = time.monotonic() + 60
                while pending and time.monotonic() < deadline:
                    x = c.poll(0.5)
                    if x is None:
                        continue
                    if x.error():
                        if x.error().code() == KafkaError._PARTITION_EOF:
                            pending.discard(x.partition())
                            continue
                        raise KafkaException(x.error())
                    got[x.partition()].append(upstream_of(x))
            finally:
                c.close()
            self.assertFalse(pending, f"{g} did not reach the end of east.ledger")
            for (_, p), u in commits[g].items():
                want = [x.offset() for x in src[p] if x.offset() >= u]
                redelivered = [o for o in got[p] if o is not None and o < u]
                skipped = sorted(set(want) - set(got[p]))
                self.assertEqual((redelivered, skipped), ([], []), f"{g} east.ledger-{p} from {u}")
                self.assertEqual([o for o in got[p] if o is not None], want, f"{g} east.ledger-{p}")

    def test_a_flow_configured_paused_copies_nothing_until_resumed_and_paths_are_checked(self):
        east, west = self.regions()
        create_topics(east, "orders", partitions=2)
        m = self.flow(east, west, ["orders"], paused=True)
        produce_all(east, "orders", [{"key": b"k%d" % i, "value": b"v%d" % i, "partition": i % 2} for i in range(300)])
        self.assertEqual(m.flow_status("east", "west")["state"], "paused")
        self.assertEqual(call(m, "POST", "/flows/east/nowhere/pause")[0], 404)
        self.assertEqual(call(m, "POST", "/flows/east/west/explode")[0], 404)
        self.assertEqual(call(m, "GET", "/flows/east/west/pause")[0], 405)
        self.assertEqual(call(m, "POST", "/status")[0], 405)
        time.sleep(3)  # bounded: a running flow would have copied the 300 records by now
        t = consumer(west)
        self.addCleanup(t.close)
        topics = t.list_topics(timeout=10).topics
        if "east.orders" in topics:
            self.assertEqual([watermarks(west, "east.orders", p, t)[1] for p in range(2)], [0, 0])
        status, paused = call(m, "POST", "/flows/east/west/pause")
        self.assertEqual((status, paused["state"], paused["partitions"]), (200, "paused", []))
        st = m.flow_status("east", "west")
        self.assertEqual(st["heartbeat"], {"last_replicated_ms": None, "age_ms": None})
        self.assertEqual(call(m, "POST", "/flows/east/west/resume"), (200, {"flow": "east->west", "state": "running"}))
        self.wait_caught_up(m, east, west, {"orders": 2}, lambda t: f"east.{t}")
        self.assertEqual(self.assert_exact_copy(east, west, "orders", "east.orders", 2), 300)
        hb = wait_until(lambda: m.flow_status("east", "west")["heartbeat"]["last_replicated_ms"] and
                        m.flow_status("east", "west")["heartbeat"], 30, what="a replicated heartbeat")
        self.assertGreaterEqual(hb["age_ms"], 0, hb)


    def test_a_pause_survives_a_killed_mirror_with_state_dir_and_a_damaged_state_stops_it(self):
        # ferry-dr pauses east->west at failover; a mirror restarted afterwards must not start
        # copying east's stale records into the new primary.
        east, west = self.regions()
        create_topics(east, "orders", partitions=2)
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["orders"], **FAST_REFRESH)], start=False)
        state_file = os.path.join(m.tmpdir, "state", "flow-control.json")
        m.mirror["state.dir"] = os.path.dirname(state_file)
        m.start()
        batch = lambda lo, hi: [{"key": b"k%d" % i, "value": b"v%d" % i, "partition": i % 2} for i in range(lo, hi)]
        produce_all(east, "orders", batch(0, 100))
        self.wait_caught_up(m, east, west, {"orders": 2}, lambda t: f"east.{t}")
        self.assertEqual(call(m, "POST", "/flows/east/west/pause")[0], 200)
        with open(state_file) as f:
            self.assertTrue(json.load(f)["flows"]["east->west"]["paused"])

        m.restart(graceful=False)  # SIGKILL
        self.assertEqual(m.flow_status("east", "west")["state"], "paused")
        produce_all(east, "orders", batch(100, 200))
        time.sleep(3)  # bounded: a running flow (1 s refresh) would have copied them by now
        t = consumer(west)
        self.addCleanup(t.close)
        self.assertEqual(sum(watermarks(west, "east.orders", p, t)[1] for p in range(2)), 100)

        self.assertEqual(call(m, "POST", "/flows/east/west/resume")[0], 200)
        m.restart(graceful=False)
        self.assertEqual(m.flow_status("east", "west")["state"], "running")
        self.wait_caught_up(m, east, west, {"orders": 2}, lambda t: f"east.{t}")
        self.assertEqual(self.assert_exact_copy(east, west, "orders", "east.orders", 2), 200)

        m.stop()
        with open(state_file, "w") as f:
            f.write('{"flows": {"east->west": {"paused": "maybe"}}}')
        r = m.run_to_exit()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(state_file, r.stderr)

    def test_sigterm_stops_a_flow_paused_after_its_source_was_lost(self):
        # An unplanned failover: the source region dies, ferry-dr pauses the flow, and later the
        # operator stops the mirror. The paused flow keeps asking the dead source for its end
        # offsets; librdkafka 2.0.2's watermark query never returned then, so SIGTERM hung for ever.
        east, west = self.regions()
        create_topics(east, "orders", partitions=3)
        m = self.flow(east, west, ["orders"])
        produce_all(east, "orders", [{"key": b"k%d" % i, "value": b"v%d" % i, "partition": i % 3} for i in range(90)])
        self.wait_caught_up(m, east, west, {"orders": 3}, lambda t: f"east.{t}")
        self.assertEqual(call(m, "POST", "/flows/east/west/pause?timeout_ms=10000")[0], 200)
        east.kill()  # SIGKILL
        time.sleep(3)  # several of the paused flow's once-a-second refreshes against the dead source
        st = m.flow_status("east", "west")
        self.assertEqual(st["state"], "paused", st)
        self.assertEqual(sum(p["next_offset"] for p in st["partitions"] if p["topic"] == "orders"), 90, st)
        # stop() sends SIGTERM and, after 60 s, SIGKILL (reported as -9).
        self.assertEqual(m.stop(timeout=60), 0, "ferry-mirror did not exit on SIGTERM")

    def test_sigterm_with_both_clusters_gone_is_bounded_by_the_shutdown_timeout(self):
        # Pins issue 14 (rough edges): with both regions SIGKILLed, the flow's threads sat in Admin calls
        # (15 s each, several in a row) and producer flushes (10 s), so SIGTERM took 22-32 s.
        # task.shutdown.graceful.timeout.ms (Kafka Connect's key) now bounds the wait.
        east, west = self.regions()
        create_topics(east, "orders", partitions=3)
        m = self.start_mirror({"east": east, "west": west},
                              [dict(source="east", target="west", topics=["orders"], **FAST_REFRESH)],
                              {"task.shutdown.graceful.timeout.ms": 1000})
        self.wait_caught_up(m, east, west, {"orders": 3}, lambda t: f"east.{t}")
        east.kill()
        west.kill()
        time.sleep(5)  # every thread is now inside a call to a cluster that will never answer
        # SIGTERM; SIGKILL (reported as -9) after 15 s, well under the 22 s it took before.
        self.assertEqual(m.stop(timeout=15), 0, "ferry-mirror did not exit within 15 s of SIGTERM")
        log = m.log_since_start()
        self.assertRegex(log, r"shutdown complete", log[-3000:])
        if "(forced)" in log:  # the threads that were still waiting are named
            self.assertRegex(log, r"flow east->west: thread\(s\) [a-z, ]+ still waiting on a cluster")


if __name__ == "__main__":
    unittest.main()
