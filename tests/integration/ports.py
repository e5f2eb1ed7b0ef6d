"""Free TCP ports for test and benchmark processes on loopback, picked so that they stay free
until the process that was given one binds it.

A port from `bind(("127.0.0.1", 0))` comes from the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), the same range every outgoing connection takes its
local port from. Under `ctest -j2` another test's client connection can take such a port between
the probe and the broker's bind, and the broker then fails with EADDRINUSE, or has already opened
its first listener and dies on the second while the harness sees a port accepting. So ports here
come from below the ephemeral range (no connection is ever given one by the kernel), and each one
handed out is reserved for RESERVE_S in a directory every process on the machine shares, so that a
port whose broker was SIGKILLed for a restart is not given to another test meanwhile.

Command line: `/usr/bin/python3 ports.py N` prints N distinct free ports on one line.
"""

import fcntl
import itertools
import os
import random
import socket
import sys
import time

RESERVE_S = 1800          # a port is not handed out again for this long (a SIGKILLed broker restarts on it)
LOWEST_PORT = 20000       # below are well-known services people run on a development machine
RESERVATIONS = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ferry-test-ports")

_given = set()  # never twice in one process, even after RESERVE_S


def _candidate_range():
    """(first, last) inclusive: the ports below the ephemeral range, or above it when the range
    starts too low to leave 1,000 ports; None when neither side has 1,000."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    if low - 1 - LOWEST_PORT >= 1000:
        return LOWEST_PORT, low - 1
    if 65535 - (high + 1) >= 1000:
        return high + 1, 65535
    return None


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kernel_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port():
    """A TCP port on 127.0.0.1 that is free now, outside the ephemeral range and reserved for
    RESERVE_S seconds against every other caller on this machine. Falls back to a kernel-chosen
    port (the old behaviour, with its small race) when the ephemeral range leaves no room.
    Raises RuntimeError when every port of the range is taken or reserved."""
    span = _candidate_range()
    if span is None:
        return _kernel_port()
    os.makedirs(RESERVATIONS, exist_ok=True)
    first, last = span
    # Random ports first (concurrent pickers rarely meet), then every port in order, so a range
    # mostly reserved by earlier runs still yields its last free ports.
    tries = itertools.chain((random.randint(first, last) for _ in range(200)), range(first, last + 1))
    with open(os.path.join(RESERVATIONS, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = time.time()
        for port in tries:
            if port in _given:
                continue
            mark = os.path.join(RESERVATIONS, str(port))
            try:
                if now - os.stat(mark).st_mtime < RESERVE_S:
                    continue
            except FileNotFoundError:
                pass
            if not _bindable(port):
                continue
            with open(mark, "w"):  # (re)creating it stamps it now
                pass
            _given.add(port)
            return port
    raise RuntimeError(f"every port in {first}..{last} is taken or reserved (reservations in {RESERVATIONS})")

if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(*[free_port() for _ in range(count)])
