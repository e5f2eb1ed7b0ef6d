"""The real `ferry-wan-proxy` binary ($FERRY_WAN_PROXY) as a managed test process: a simulated WAN
link (one-way delay per direction, bandwidth cap, blackhole and reset cuts) between Kafka clients
and a broker that advertises the proxy's address. See wan-proxy/README.md."""

import json
import time
import urllib.request

from ferry_harness import ProcessStartError, _ManagedProcess, binary_from_env, free_port

START_TIMEOUT_S = 10.0


def wan_proxy_binary():
    """Path of ferry-wan-proxy; skips the calling test when it is not configured."""
    return binary_from_env("FERRY_WAN_PROXY", "ferry-wan-proxy")


class WanProxy(_ManagedProcess):
    """One ferry-wan-proxy process. `routes` is a list of (listen_port, upstream_port) on 127.0.0.1;
    a listen port chosen up front (free_port()) lets a broker advertise it before the proxy runs.
    `args` are extra flags ("--delay-ms", "25", ...). The control endpoint gets a free port."""

    name = "ferry-wan-proxy"

    def __init__(self, routes, args=(), start=True):
        self.binary = wan_proxy_binary()
        super().__init__("wan-proxy.log")
        self.routes = list(routes)
        self.args = list(args)
        self.control_port = free_port()
        self.port = self.routes[0][0]  # for the harness's failure report
        self.ready = None
        if start:
            self.start()

    def start(self, timeout=START_TIMEOUT_S):
        """Starts the proxy and waits for its ready line (one JSON object on stdout, which the log
        collects); raises ProcessStartError with the log tail if it exits or stays silent."""
        argv = []
        for listen, upstream in self.routes:
            argv += ["--route", f"127.0.0.1:{listen}=127.0.0.1:{upstream}"]
        argv += ["--control", f"127.0.0.1:{self.control_port}"] + self.args
        self._spawn(argv)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.last_returncode = self.proc.returncode
                raise ProcessStartError(f"ferry-wan-proxy exited with {self.proc.returncode}; log:\n"
                                        + self.log_tail())
            for line in self.log_since_start().splitlines():
                if line.startswith("{"):
                    self.ready = json.loads(line)
                    return
            time.sleep(0.02)
        self.kill()
        raise ProcessStartError("ferry-wan-proxy printed no ready line; log:\n" + self.log_tail())

    def _request(self, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}",
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def set_link(self, **fields):
        """POST /link with `fields` (delay_ms, delay_up_ms, delay_down_ms, rate_mbit, rate_up_mbit,
        rate_down_mbit, cut); returns the link settings now in force. Raises on a refusal."""
        status, body = self._request("/link", fields)
        if status != 200:
            raise AssertionError(f"POST /link {fields} -> {status} {body}")
        return body

    def post_link_raw(self, body):
        """POST /link with an arbitrary JSON value; returns (HTTP status, parsed reply)."""
        return self._request("/link", body)

    def status(self):
        """GET /status parsed (link, window_bytes, bytes_up, bytes_down, connections_reset,
        upstream_connect_failures, routes)."""
        return self._request("/status")[1]
