"""The test and benchmark port picker (ports.py): ports the kernel never hands to a client
connection, and never the same port to two processes running at once."""

import subprocess
import unittest

import ports

PICKER = ["/usr/bin/python3", "ports.py"]


class PortsTest(unittest.TestCase):
    def test_ports_are_below_the_ephemeral_range_and_distinct_across_concurrent_processes(self):
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        if ports._candidate_range() is None:
            self.skipTest(f"ephemeral range {low}-{high} leaves no room; ports.py falls back to bind(0)")
        procs = [subprocess.Popen(PICKER + ["50"], stdout=subprocess.PIPE, text=True) for _ in range(4)]
        picked = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0)
            picked += [int(x) for x in out.split()]
        self.assertEqual(len(picked), 200)
        self.assertEqual(len(set(picked)), 200, "a port was given to two processes")
        for port in picked:
            self.assertFalse(low <= port <= high, f"{port} is in the ephemeral range {low}-{high}")
            self.assertGreaterEqual(port, ports.LOWEST_PORT)


if __name__ == "__main__":
    unittest.main()
