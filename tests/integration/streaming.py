"""A producer that streams numbered records from a thread and records exactly which were
acknowledged, plus the check that every acknowledged record survived a broker stop.

Used by test_crash (SIGKILL) and test_shutdown (SIGTERM). Retries are off, so every record is sent
at most once: a record can be on disk without having been acknowledged (the broker wrote it and
died before answering), but never twice. That makes "each acknowledged record exactly once, at the
offset the broker acknowledged" a precise expectation.
"""

import threading

from ferry_harness import producer, wait_until


def key_of(i):
    return f"{i:08d}".encode()


def value_of(i):
    return b"payload-%08d-" % i + b"x" * (i % 97)


class StreamingProducer(threading.Thread):
    """Produces records 0..n-1 (key = zero-padded index) to `topic` with acks=all.

    It stops at record `gate_at` (if given) until release() is called, so a test can act on the
    broker while the stream is known to be incomplete. `acked` maps key -> (partition, offset) for
    every delivery report without error; `failed` collects (key, error) for the rest.
    """

    def __init__(self, broker, topic, n, gate_at=None, **conf):
        super().__init__(daemon=True)
        c = {"message.send.max.retries": 0, "linger.ms": 2, "message.timeout.ms": 60000,
             "queue.buffering.max.messages": 5000}
        c.update(conf)
        self.p = producer(broker, **c)
        self.topic = topic
        self.n = n
        self.gate_at = gate_at
        self.acked = {}
        self.failed = []
        self.produced = 0
        self._release = threading.Event()
        self._finish = threading.Event()
        self.exc = None

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked[msg.key()] = (msg.partition(), msg.offset())
        else:
            self.failed.append((msg.key(), err))

    def release(self):
        self._release.set()

    def finish(self, timeout=60):
        """Ends the stream: drops whatever is still queued or in flight, serves the last delivery
        reports and joins the thread."""
        self._release.set()
        self._finish.set()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("producer thread did not finish")
        if self.exc:
            raise self.exc

    def run(self):
        try:
            for i in range(self.n):
                if self._finish.is_set():
                    break
                if i == self.gate_at:
                    while not self._release.is_set():
                        self.p.poll(0.05)
                while True:
                    try:
                        self.p.produce(self.topic, key=key_of(i), value=value_of(i),
                                       on_delivery=self._on_delivery)
                        break
                    except BufferError:
                        self.p.poll(0.05)
                        if self._finish.is_set():
                            break
                self.produced = i + 1
                self.p.poll(0)
            while not self._finish.is_set() and len(self.p):
                self.p.poll(0.05)
            self.p.purge(in_queue=True, in_flight=True)
            self.p.flush(30)
        except Exception as e:  # surfaced by finish()
            self.exc = e

    def wait_for_acks(self, count, timeout=90):
        wait_until(lambda: len(self.acked) >= count or self.exc, timeout, interval=0.01,
                   what=f"{count} acknowledged records (have {len(self.acked)})")
        if self.exc:
            raise self.exc


def check_acked_survived(test, consumed, acked):
    """Asserts the durability contract on {partition: [Message]} read back after a restart.

    Every partition's offsets are contiguous from 0, no record appears twice, records of one
    partition are in the order they were produced, and every acknowledged record is present at
    the partition and offset its delivery report named.
    """
    seen = {}
    for part, msgs in consumed.items():
        offsets = [m.offset() for m in msgs]
        test.assertEqual(offsets, list(range(len(msgs))), f"offsets of partition {part} have gaps")
        keys = [m.key() for m in msgs]
        test.assertEqual(keys, sorted(keys), f"partition {part} out of produce order")
        for m in msgs:
            test.assertNotIn(m.key(), seen, f"record {m.key()} stored twice")
            seen[m.key()] = (part, m.offset())
            test.assertEqual(m.value(), value_of(int(m.key())), f"value of record {m.key()} changed")
    missing = [k for k in acked if k not in seen]
    test.assertEqual(missing[:10], [], f"{len(missing)} acknowledged records lost")
    moved = [(k, acked[k], seen[k]) for k in acked if seen[k] != acked[k]]
    test.assertEqual(moved[:10], [], "acknowledged records not at their acknowledged offsets")
    return len(seen)
