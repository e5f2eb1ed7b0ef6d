"""ferry-wan-proxy, the simulated WAN link of the tests and benchmarks, with real parts: its own
command line, a real broker that advertises the proxy so unmodified Kafka clients go through it,
and a real ferry-mirror whose source link is cut (reset, then blackhole) while it copies. What a
user notices is asserted: refusals that name the flag, every record intact, a request that
cannot come back before its round trip, and a cut that loses and repeats nothing once healed.
FERRY_WAN_SEED replays the records' contents (the seed is printed)."""

import os
import random
import socket
import subprocess
import time
import types

from ferry_harness import (BrokerTestCase, consume_all, consumer, create_topics, free_port, produce_all,
                           producer, wait_until, watermarks)
from wan_proxy import WanProxy, wan_proxy_binary

SEED = int(os.environ.get("FERRY_WAN_SEED", random.randrange(1 << 30)))
print(f"test_wan_proxy: FERRY_WAN_SEED={SEED}")


def endpoint(port):
    """Something with the .bootstrap the client helpers take."""
    return types.SimpleNamespace(bootstrap=f"127.0.0.1:{port}")


class CommandLineTest(BrokerTestCase):
    def run_proxy(self, *args):
        return subprocess.run([wan_proxy_binary(), *args], capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)

    def test_bad_arguments_exit_2_naming_the_flag(self):
        cases = [
            ([], "--route is required"),
            (["--route", "127.0.0.1:0"], "--route \"127.0.0.1:0\""),
            (["--route", "127.0.0.1:0=127.0.0.1:0"], "port 0 is not a destination"),
            (["--route", "127.0.0.1:0=127.0.0.1:9", "--delay-ms", "-1"], "--delay-ms -1"),
            (["--route", "127.0.0.1:0=127.0.0.1:9", "--rate-mbit", "fast"], "--rate-mbit"),
            (["--route", "127.0.0.1:0=127.0.0.1:9", "--cut", "maybe"], "--cut: cut \"maybe\""),
            (["--route", "127.0.0.1:0=127.0.0.1:9", "--window-bytes", "1"], "--window-bytes 1"),
            (["--route", "127.0.0.1:0=127.0.0.1:9", "--jitter-ms", "3"], "--jitter-ms"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                p = self.run_proxy(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)
                self.assertIn("see ferry-wan-proxy --help", p.stderr)
                self.assertEqual(p.stdout, "", "nothing may look like a ready line")

    def test_a_listen_address_in_use_exits_1_naming_it(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            p = self.run_proxy("--route", f"127.0.0.1:{port}=127.0.0.1:9")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", p.stderr)

    def test_help_lists_every_flag(self):
        p = self.run_proxy("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--route", "--delay-ms", "--delay-up-ms", "--delay-down-ms", "--rate-mbit",
                     "--rate-up-mbit", "--rate-down-mbit", "--window-bytes", "--cut", "--control",
                     "--log-level"):
            self.assertIn(flag, p.stdout)


class KafkaThroughTheLinkTest(BrokerTestCase):
    def broker_behind_proxy(self, proxy_args):
        """A broker with a LOCAL listener (advertised as itself) and a WAN listener advertised as
        the proxy's address, and the proxy in front of the WAN listener."""
        wan_port, proxy_port = free_port(), free_port()
        b = self.start_broker(start=False)
        b.config.update({
            "listeners": [f"LOCAL://127.0.0.1:{b.port}", f"WAN://127.0.0.1:{wan_port}"],
            "advertised.listeners": [f"LOCAL://127.0.0.1:{b.port}", f"WAN://127.0.0.1:{proxy_port}"],
            "listener.security.protocol.map": ["LOCAL:PLAINTEXT", "WAN:PLAINTEXT"],
        })
        b.write_config()
        b.start()
        proxy = WanProxy([(proxy_port, wan_port)], proxy_args)
        self.addCleanup(proxy.close)
        self.__dict__.setdefault("_processes", []).append(proxy)
        return b, proxy, endpoint(proxy_port)

    def test_clients_behind_a_delayed_link_get_every_record_and_pay_the_round_trip(self):
        b, proxy, wan = self.broker_behind_proxy(["--delay-ms", "20"])
        create_topics(b, "far", partitions=2)
        rng = random.Random(SEED)
        records = [{"key": f"k{i}".encode(), "value": rng.randbytes(rng.randrange(0, 3000)),
                    "partition": i % 2} for i in range(3000)]
        produce_all(wan, "far", records, timeout=120)
        got = consume_all(wan, "far", timeout=120)
        for p in (0, 1):
            want = [r["value"] for r in records if r["partition"] == p]
            self.assertEqual([m.value() for m in got[p]], want, f"partition {p}")
        st = proxy.status()
        payload = sum(len(r["value"]) for r in records)
        self.assertGreater(st["bytes_up"], payload, "the records went through the proxy")
        self.assertGreater(st["bytes_down"], payload, "and came back through it")

        # One acks=all record on a warm connection cannot be acknowledged in less than a round
        # trip (20 ms each way).
        p = producer(wan, **{"linger.ms": 0})
        p.produce("far", b"warm", partition=0)
        self.assertEqual(p.flush(30), 0)
        t0 = time.monotonic()
        p.produce("far", b"timed", partition=0)
        self.assertEqual(p.flush(30), 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.040)

        self.assertEqual(watermarks(b, "far", 0)[1], 1502, "1,500 records, then the two timed ones")

    def test_a_mirror_whose_source_link_is_reset_then_blackholed_loses_and_repeats_nothing(self):
        from ferry_harness import mirror_binary
        mirror_binary()
        east, proxy, east_wan = self.broker_behind_proxy(["--delay-ms", "5"])
        west = self.start_broker({"group.initial.rebalance.delay.ms": 0})
        topic, parts = "cut", 4
        create_topics(east, topic, partitions=parts)
        rng = random.Random(SEED + 1)

        def produce_round(n, tag):
            produce_all(east, topic, [{"key": f"{tag}-{i}".encode(), "value": rng.randbytes(200),
                                       "partition": i % parts} for i in range(n)])

        produce_round(4000, "a")
        m = self.start_mirror(
            {"east": {"bootstrap.servers": east_wan.bootstrap,
                      "client": {"reconnect.backoff.max.ms": 500}},
             "west": west},
            [dict(source="east", target="west", topics=[topic], **{"refresh.topics.interval.seconds": 1})])

        def west_total():
            try:
                return sum(watermarks(west, f"east.{topic}", p)[1] for p in range(parts))
            except Exception:
                return 0

        wait_until(lambda: west_total() > 0, 60, what="the mirror to start copying")
        proxy.set_link(cut="reset")
        produce_round(4000, "b")
        time.sleep(2)
        self.assertGreaterEqual(proxy.status()["connections_reset"], 1, "the cut reset a connection")
        proxy.set_link(cut="none")
        wait_until(lambda: west_total() >= 6000, 90, what="copying to resume after the reset")
        proxy.set_link(cut="blackhole")
        produce_round(4000, "c")
        time.sleep(1)
        held = west_total()
        time.sleep(2)
        self.assertEqual(west_total(), held, "nothing crosses a blackholed link")
        proxy.set_link(cut="none")
        wait_until(lambda: west_total() >= 12000, 120, what="every record on west after the blackhole")
        time.sleep(1)
        self.assertEqual(west_total(), 12000, "no record copied twice")

        source = consume_all(east, topic, timeout=90)
        copied = consume_all(west, f"east.{topic}", timeout=90)
        for p in range(parts):
            self.assertEqual([(x.key(), x.value()) for x in copied[p]],
                             [(x.key(), x.value()) for x in source[p]], f"partition {p}")
        self.assertTrue(m.running())
