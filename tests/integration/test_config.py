"""ferry-broker's command line and configuration file handling, as an operator meets it."""

import os
import socket
import subprocess
import tempfile
import time
import unittest

from ferry_harness import BrokerTestCase, broker_binary, free_port, run_kcat, toml_value

RUN_TIMEOUT_S = 20


class ConfigTest(BrokerTestCase):
    def setUp(self):
        self.binary = broker_binary()
        self.tmp = tempfile.TemporaryDirectory(prefix="ferry-it-cfg-")
        self.addCleanup(self.tmp.cleanup)
        self.port = free_port()

    def write(self, text, name="broker.toml"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def base(self, listener=None):
        listener = listener or f"PLAINTEXT://127.0.0.1:{self.port}"
        return (f"node.id = 3\nlisteners = {toml_value(listener)}\n"
                f'log.dirs = {toml_value(os.path.join(self.tmp.name, "data"))}\n')

    def run_broker(self, *args):
        # A config error must end the process on its own; the timeout only guards the test.
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)

    def assert_rejected(self, text, *must_mention):
        path = self.write(text)
        p = self.run_broker("--config", path)
        self.assertEqual(p.returncode, 2, f"exit status for config:\n{text}\nstderr: {p.stderr}")
        for s in must_mention:
            self.assertIn(s, p.stderr, f"stderr should name {s!r}")
        return p

    def test_help_exits_zero_and_lists_keys(self):
        p = self.run_broker("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout + p.stderr
        for key in ("log.dirs", "listeners", "node.id", "auto.create.topics.enable",
                    "socket.request.max.bytes", "metrics.listener"):
            self.assertIn(key, text)

    def test_wrong_type_names_key_and_value(self):
        self.assert_rejected(self.base() + 'num.partitions = "three"\n', "num.partitions", "three")

    def test_unknown_key_names_key_and_value(self):
        self.assert_rejected(self.base() + "log.retention.hourz = 168\n", "log.retention.hourz", "168")

    def test_out_of_range_names_key_and_value(self):
        self.assert_rejected(self.base() + "log.segment.bytes = 13\n", "log.segment.bytes", "13")
        self.assert_rejected(self.base().replace("node.id = 3", "node.id = -7"), "node.id", "-7")

    def test_bad_enum_names_key_value_and_choices(self):
        self.assert_rejected(self.base() + 'log.level = "chatty"\n', "log.level", "chatty", "debug")

    def test_bad_listener_names_key_and_value(self):
        bad = "PLAINTEXT://127.0.0.1:99999"
        self.assert_rejected(self.base(listener=bad), "listeners", bad)

    def test_unparsable_toml_names_file_and_line(self):
        path = self.write(self.base() + "num.partitions = = 4\n")
        p = self.run_broker("--config", path)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(path, p.stderr)
        self.assertRegex(p.stderr.replace(path, ""), r"\b4\b", "stderr should give the bad line (4)")

    def test_missing_file_names_path(self):
        path = os.path.join(self.tmp.name, "does-not-exist.toml")
        p = self.run_broker("--config", path)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(path, p.stderr)

    def test_a_taken_port_on_the_second_listener_fails_the_start_before_any_listener_opens(self):
        # Every listener is bound before any listens: a client must never reach the first listener
        # of a broker that is about to exit because its second port is taken.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            path = self.write(self.base(f"PLAINTEXT://127.0.0.1:{self.port},EXTERNAL://127.0.0.1:{port}")
                              + 'listener.security.protocol.map = "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT"\n')
            p = self.run_broker("--config", path)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"cannot listen on EXTERNAL://127.0.0.1:{port}: Address already in use", p.stderr)
        self.assertNotIn("listening on", p.stderr)

    def test_minimal_three_line_config_starts(self):
        # With no overrides the harness writes exactly node.id, listeners and log.dirs; that alone
        # must bring the broker up, publishing the configured node id in Metadata.
        b = self.start_broker(node_id=7)
        with open(b.config_path) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        self.assertEqual([ln.split(" = ")[0] for ln in lines], ["node.id", "listeners", "log.dirs"])
        self.assertIn(f"broker 7 at {b.bootstrap}", run_kcat(b, ["-L"]).stdout)

    def test_quoted_keys_and_tables_mean_the_same_keys(self):
        data = os.path.join(self.tmp.name, "data2")
        path = self.write(f'"node.id" = 4\n"listeners" = "PLAINTEXT://127.0.0.1:{self.port}"\n'
                          f"[log]\ndirs = {toml_value(data)}\n", name="quoted.toml")
        p = subprocess.Popen([self.binary, "--config", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while True:
                self.assertIsNone(p.poll(), "broker exited on a config with quoted keys")
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "broker did not open its port")
                    time.sleep(0.05)
            bootstrap = f"127.0.0.1:{self.port}"
            self.assertIn(f"broker 4 at {bootstrap}", run_kcat(bootstrap, ["-L"]).stdout)
            run_kcat(bootstrap, ["-P", "-t", "cfg-auto"], input="one\n")
            self.assertTrue(os.path.isdir(os.path.join(data, "cfg-auto-0")),
                            f"log.dirs from a [log] table not used: {os.listdir(self.tmp.name)}")
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
