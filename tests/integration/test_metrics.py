"""The Prometheus endpoint (metrics.listener) reflects what clients did, in Kafka's metric names."""

import re
import unittest
import urllib.request

import kafka_wire as kw
from ferry_harness import BrokerTestCase, consume_all, create_topics, free_port, produce_all

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """Prometheus text format 0.0.4 -> {(name, frozenset(labels.items())): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise AssertionError(f"malformed exposition line: {line!r}")
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class MetricsTest(BrokerTestCase):
    def setUp(self):
        self.mport = free_port()
        self.broker = self.start_broker({"metrics.listener": f"127.0.0.1:{self.mport}"})

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics", timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"])
            return parse_exposition(r.read().decode())

    def value(self, metrics, name, **labels):
        want = set(labels.items())
        hits = [v for (n, ls), v in metrics.items() if n == name and want <= set(ls)]
        self.assertEqual(len(hits), 1, f"{name}{labels}: {len(hits)} series; names present: "
                                       f"{sorted({n for n, _ in metrics})}")
        return hits[0]

    def test_request_time_split_places_a_long_poll_and_a_response_held_behind_it(self):
        # Kafka's RequestMetrics split (RequestQueueTimeMs, LocalTimeMs, RemoteTimeMs,
        # ResponseQueueTimeMs, ResponseSendTimeMs, TotalTimeMs). One connection pipelines a Fetch
        # that long-polls 400 ms on an empty partition and an ApiVersions the broker answers at
        # once: the Fetch's time is remote (waiting for data), and the ApiVersions response waits
        # in the response queue behind it, since responses leave in request order.
        create_topics(self.broker, "idle", partitions=1)
        before = self.scrape()

        def hist(m, name, request, part):
            key = f"kafka_network_requestmetrics_{name}_{part}"
            hits = [v for (n, ls), v in m.items() if n == key and ("request", request) in ls]
            return hits[0] if hits else 0.0

        body = (kw.i32(-1) + kw.i32(400) + kw.i32(1) + kw.i32(1 << 20) + kw.i8(0)
                + kw.array([kw.string("idle") + kw.array([kw.i32(0) + kw.i64(0) + kw.i32(1 << 20)])]))
        with kw.Connection("127.0.0.1", self.broker.port) as c:
            c.send_raw(kw.frame(kw.request_header(kw.API_FETCH, 4, 1) + body)
                       + kw.frame(kw.request_header(kw.API_API_VERSIONS, 2, 2)))
            c.recv_frame(), c.recv_frame()
        m = self.scrape()

        def delta(name, request, part):
            return hist(m, name, request, part) - hist(before, name, request, part)

        self.assertEqual(delta("totaltimems", "Fetch", "count"), 1)
        remote = delta("remotetimems", "Fetch", "sum")
        self.assertGreaterEqual(remote, 350, "the long poll is the Fetch's remote time")
        self.assertLess(delta("localtimems", "Fetch", "sum"), remote / 4)
        self.assertGreaterEqual(delta("totaltimems", "Fetch", "sum"), remote)
        self.assertLess(delta("totaltimems", "Fetch", "sum"), 5000)
        self.assertEqual(delta("totaltimems", "ApiVersions", "count"), 1)
        self.assertGreaterEqual(delta("responsequeuetimems", "ApiVersions", "sum"), 300,
                                "the ApiVersions response waited for the Fetch's to be written first")
        self.assertLess(delta("localtimems", "ApiVersions", "sum"), 300)
        for part in ("requestqueuetimems", "responsesendtimems"):
            self.assertEqual(delta(part, "Fetch", "count"), 1, part)

    def test_produce_and_fetch_show_up_per_topic_and_partition(self):
        topic = "metered"
        create_topics(self.broker, topic, partitions=2)
        values = [b"m" * (10 + i) for i in range(50)]
        produce_all(self.broker, topic, [{"value": v, "partition": 1} for v in values])
        self.assertEqual(len(consume_all(self.broker, topic)[1]), 50)
        m = self.scrape()

        self.assertEqual(self.value(m, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic), 50)
        self.assertGreaterEqual(self.value(m, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic),
                                sum(map(len, values)))
        self.assertGreaterEqual(self.value(m, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic),
                                sum(map(len, values)))
        self.assertEqual(self.value(m, "kafka_log_log_logendoffset", topic=topic, partition="1"), 50)
        self.assertEqual(self.value(m, "kafka_log_log_logendoffset", topic=topic, partition="0"), 0)
        self.assertEqual(self.value(m, "kafka_server_replicamanager_underreplicatedpartitions"), 0)
        self.assertGreater(self.value(m, "kafka_network_requestmetrics_requests_total", request="Produce"), 0)
        self.assertGreater(self.value(m, "kafka_network_requestmetrics_requests_total", request="Fetch"), 0)
        # acks=all waited for fsyncs (log.flush.acks.all), each timed like Kafka's LogFlushRateAndTimeMs.
        flushes = self.value(m, "kafka_log_logflushstats_logflushrateandtimems_count")
        self.assertGreaterEqual(flushes, 1)
        self.assertEqual(self.value(m, "kafka_log_logflushstats_logflushrateandtimems_bucket", le="+Inf"), flushes)

        # Counters count records exactly: 25 more records, 25 more counted.
        produce_all(self.broker, topic, [{"value": b"x", "partition": 0} for _ in range(25)])
        m2 = self.scrape()
        self.assertEqual(self.value(m2, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic), 75)
        self.assertEqual(self.value(m2, "kafka_log_log_logendoffset", topic=topic, partition="0"), 25)

        # DeleteRecords moves the log start offset the gauge reports.
        with kw.Connection("127.0.0.1", self.broker.port) as conn:
            conn.request(kw.API_DELETE_RECORDS, 0, kw.delete_records_v0_body(topic, 1, 20))
        m3 = self.scrape()
        self.assertEqual(self.value(m3, "kafka_log_log_logstartoffset", topic=topic, partition="1"), 20)
        self.assertEqual(self.value(m3, "kafka_log_log_logstartoffset", topic=topic, partition="0"), 0)


if __name__ == "__main__":
    unittest.main()
