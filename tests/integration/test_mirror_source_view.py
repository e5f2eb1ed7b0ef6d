"""Pins issue 13 defects 3 and 7 (the mirror's side): the mirror's view of the source's
log end offsets is what ferry-dr counts an unplanned failover's loss from. It was up to a second
old while the mirror was behind (librdkafka stops fetching a partition whose queue is full, and
the source was asked once a second), carried no age, and a pause right after the source died
waited 2 s for it.

What these tests assert, with a real source being written at full speed while the mirror is slowed
down: every partition in /status says when its `source_end_offset` was read
(`source_end_offset_ms`) and the view keeps up with the source; after a SIGKILL of the source, a
pause answers `source_reachable: false` with the last view and its time; with the source alive, a
pause answers `source_reachable: true` with values read after the pause began, equal to the
source's own log end offsets.
"""

import threading
import time
import unittest

from ferry_harness import consumer, create_topics, producer, watermarks
from test_mirror import MirrorTestCase
from test_mirror_control import call
from mirror_groups import EAST_CONFIG, FAST, WEST_CONFIG

# Slow copying: small fetch queues on the source, one record per batch on the target, so the
# mirror stays far behind a producer writing as fast as it can.
SLOW = dict(east={"queued.min.messages": "1000", "queued.max.messages.kbytes": "1024"},
            west={"batch.num.messages": "1", "queue.buffering.max.messages": "1000"})


def now_ms():
    return int(time.time() * 1000)


class SourceViewTest(MirrorTestCase):
    def flooded(self, seconds):
        """East (orders, 3 partitions) being written at full speed for `seconds` already, west, a
        slowed-down mirror east -> west holding its stable assignment, and the flood's (stop
        event, thread)."""
        east, west = self.start_broker(EAST_CONFIG), self.start_broker(WEST_CONFIG)
        create_topics(east, "orders", partitions=3)
        m = self.mirror(east, west)
        stop, t = self.flood(east)
        time.sleep(seconds)
        return east, m, stop, t

    def mirror(self, east, west):
        m = self.start_mirror({"east": {"bootstrap.servers": east.bootstrap, "client": SLOW["east"]},
                               "west": {"bootstrap.servers": west.bootstrap, "client": SLOW["west"]}},
                              [dict(source="east", target="west", topics=["orders"], **FAST)])
        # The 3 partitions of orders and the one of heartbeats: the rebalance that adds heartbeats
        # (created by the mirror itself) is over before the test starts measuring.
        self.poll_until(lambda: (len(m.flow_status("east", "west")["partitions"]) == 4, None), 60,
                        "the mirror to own the 4 partitions")
        return m

    def flood(self, east):
        """Writes to east.orders as fast as east accepts until the returned event is set."""
        stop = threading.Event()

        def run():
            p = producer(east, **{"linger.ms": 2, "message.timeout.ms": 3000})
            i = 0
            while not stop.is_set():
                try:
                    p.produce("orders", value=b"v-%d" % i)
                    i += 1
                except BufferError:
                    p.poll(0.01)
                p.poll(0)
            p.flush(5)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.addCleanup(lambda: (stop.set(), t.join(15)))
        return stop, t

    def test_the_view_keeps_up_with_the_source_while_the_mirror_is_behind(self):
        east, m, stop, t = self.flooded(2)
        c = consumer(east)
        self.addCleanup(c.close)
        behind, samples = 0, []
        for _ in range(10):
            # What east itself says now; 500 ms later the mirror's view must be at least that and
            # must have been read after this moment (a once-a-second view fails most samples).
            before_ms = now_ms()
            ends = {p: watermarks(east, "orders", p, c)[1] for p in range(3)}
            time.sleep(0.5)
            st = m.flow_status("east", "west")
            parts = {p["partition"]: p for p in st["partitions"] if p["topic"] == "orders"}
            for p in range(3):
                self.assertIsNotNone(parts[p]["source_end_offset_ms"], parts[p])
                self.assertGreaterEqual(parts[p]["source_end_offset_ms"], before_ms, parts[p])
                self.assertGreaterEqual(parts[p]["source_end_offset"], ends[p], (p, parts[p], ends[p]))
                samples.append(now_ms() - parts[p]["source_end_offset_ms"])
                behind += parts[p]["lag_records"]
            self.assertTrue(st["source_reachable"], st)
        stop.set()
        t.join(15)
        self.assertGreater(behind, 0, "the mirror kept up; the test needs it behind")
        samples.sort()
        print(f"\nview age at /status (ms): median {samples[len(samples) // 2]}, max {samples[-1]}, "
              f"lag summed over samples {behind}")

    def test_a_pause_after_the_source_died_answers_with_the_last_view_and_its_time(self):
        east, m, stop, t = self.flooded(2)
        east.kill()  # SIGKILL at full speed, no lull, and the pause at once
        killed_ms = now_ms()
        started = time.monotonic()
        status, paused = call(m, "POST", "/flows/east/west/pause?timeout_ms=30000")
        took = time.monotonic() - started
        stop.set()
        t.join(15)
        self.assertEqual(status, 200, paused)
        self.assertIs(paused["source_reachable"], False, paused)
        orders = [p for p in paused["partitions"] if p["topic"] == "orders"]
        self.assertEqual(len(orders), 3, paused)
        for p in orders:
            self.assertIsNotNone(p["source_end_offset_ms"], p)
            self.assertLessEqual(p["source_end_offset_ms"], killed_ms + 50, p)
        # The view is a lower bound of what east holds: never above its true ends.
        east.start()
        for p in orders:
            self.assertLessEqual(p["source_end_offset"], watermarks(east, "orders", p["partition"])[1], p)
        ages = [killed_ms - p["source_end_offset_ms"] for p in orders]
        print(f"\npause after SIGKILL answered in {took * 1000:.0f} ms; view age at the kill (ms): {ages}")

    def test_a_pause_with_the_source_alive_reads_its_ends_afresh(self):
        east, m, stop, t = self.flooded(1)
        stop.set()
        t.join(15)
        asked_ms = now_ms()
        status, paused = call(m, "POST", "/flows/east/west/pause?timeout_ms=60000")
        self.assertEqual(status, 200, paused)
        self.assertIs(paused["source_reachable"], True, paused)
        for p in paused["partitions"]:
            self.assertGreaterEqual(p["source_end_offset_ms"], asked_ms, p)
            self.assertEqual(p["source_end_offset"], watermarks(east, p["topic"], p["partition"])[1], p)
        self.assertIs(m.flow_status("east", "west")["source_reachable"], True)


if __name__ == "__main__":
    unittest.main()
