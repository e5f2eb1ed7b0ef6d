#!/usr/bin/python3
"""The quickstart's application: a real python3-confluent-kafka producer and consumer group that
follow a bootstrap file the way a client of a Ferry deployment does (ferry-dr rewrites it at
failover), so they move between regions on their own.

The producer (idempotent, acks=all, keyed) writes every line of a text corpus, numbered, at a
steady rate. A write the cluster refuses (the old primary is fenced) is retried every 200 ms; new
lines wait meanwhile, as they would in an application whose writes block. The consumer group
commits each record synchronously after reading it. When every line was acknowledged and
consumed (or the time limit passes), one JSON summary goes to stdout:

  {"lines", "acknowledged", "acknowledged_twice", "consumed", "unique", "redelivered", "missing",
   "out_of_order", "identical", "refused_writes", "switches": [...]}

"identical" is true when the consumed lines, put back in order, equal the corpus exactly.

CLIENT_CONFIG (optional) is a librdkafka properties file, one key=value per line (# comments), as
ferry-admin's --command-config: security.protocol, ssl.ca.location, sasl.mechanism,
sasl.username, and the password as Ferry's components take it, sasl.password.file (a file whose
contents, one trailing newline stripped, are the password) — never on the command line.

Usage: quickstart_app.py BOOTSTRAP_FILE CORPUS TOPIC GROUP RATE TIME_LIMIT_S [CLIENT_CONFIG]
"""

import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer

KEYS = 8


def read_client_config(path):
    """librdkafka properties from a key=value file; sasl.password.file becomes sasl.password."""
    props = {}
    if path is None:
        return props
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise SystemExit(f"{path}:{n}: expected key=value, got {line!r}")
            props[key.strip()] = value.strip()
    if "sasl.password.file" in props:
        with open(props.pop("sasl.password.file")) as f:
            text = f.read()
        props["sasl.password"] = text[:-1] if text.endswith("\n") else text
    return props


def read_bootstrap(path):
    with open(path) as f:
        return f.readline().strip()


class App:
    def __init__(self, bootstrap_file, lines, topic, group, rate, client_config):
        self.bootstrap_file, self.lines, self.topic, self.group, self.rate = bootstrap_file, lines, topic, group, rate
        self.client_config = client_config  # security properties, the same for both regions
        self.lock = threading.Lock()
        self.acked = {}      # seq -> acknowledgements
        self.seen = {}       # seq -> times consumed
        self.last_by_key = {}
        self.out_of_order = 0
        self.retry = []
        self.refused = 0
        self.blocked = False
        self.last_failure = 0.0
        self.switches = []
        self.stop = threading.Event()

    def on_delivery(self, err, msg):
        seq = int(msg.value().split(b"\t", 1)[0])
        with self.lock:
            if err is None:
                self.acked[seq] = self.acked.get(seq, 0) + 1
                self.blocked = False
            else:
                self.refused += 1
                self.retry.append(seq)
                self.blocked = True
                self.last_failure = time.monotonic()

    def make_producer(self, servers):
        self.switches.append({"client": "producer", "servers": servers, "at": time.time()})
        return Producer({**self.client_config, "bootstrap.servers": servers, "client.id": "quickstart-producer",
                         "enable.idempotence": True, "acks": "all", "linger.ms": 5, "message.timeout.ms": 5000})

    def send(self, p, seq):
        value = f"{seq}\t{self.lines[seq]}".encode()
        while True:
            try:
                p.produce(self.topic, key=f"doc-{seq % KEYS}".encode(), value=value, on_delivery=self.on_delivery)
                return
            except BufferError:
                p.poll(0.05)

    def produce_loop(self):
        servers = read_bootstrap(self.bootstrap_file)
        p = self.make_producer(servers)
        next_seq, start = 0, time.monotonic()
        while not self.stop.is_set():
            now_servers = read_bootstrap(self.bootstrap_file)
            if now_servers and now_servers != servers:
                p.flush(5)
                servers = now_servers
                p = self.make_producer(servers)
            p.poll(0)
            with self.lock:
                again = []
                if self.retry and time.monotonic() - self.last_failure >= 0.2:
                    again, self.retry = sorted(self.retry), []
                blocked = self.blocked or bool(self.retry) or bool(again)
            for seq in again:
                self.send(p, seq)
            if not blocked:
                due = min(len(self.lines), int((time.monotonic() - start) * self.rate))
                while next_seq < due:
                    self.send(p, next_seq)
                    next_seq += 1
            if next_seq == len(self.lines) and not again:
                with self.lock:
                    if len(self.acked) == len(self.lines) and not self.retry:
                        break
            time.sleep(0.005)
        p.flush(10)

    def make_consumer(self, servers):
        self.switches.append({"client": "consumer", "servers": servers, "at": time.time()})
        c = Consumer({**self.client_config, "bootstrap.servers": servers, "group.id": self.group,
                      "client.id": "quickstart-consumer", "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([self.topic])
        return c

    def consume_loop(self):
        servers = read_bootstrap(self.bootstrap_file)
        c = self.make_consumer(servers)
        while not self.stop.is_set():
            now_servers = read_bootstrap(self.bootstrap_file)
            if now_servers and now_servers != servers:
                c.close()
                servers = now_servers
                c = self.make_consumer(servers)
            m = c.poll(0.1)
            if m is None or m.error():
                continue
            seq = int(m.value().split(b"\t", 1)[0])
            key = m.key()
            with self.lock:
                self.seen[seq] = self.seen.get(seq, 0) + 1
                if self.seen[seq] == 1:
                    if self.last_by_key.get(key, -1) > seq:
                        self.out_of_order += 1
                    self.last_by_key[key] = seq
            try:
                c.commit(message=m, asynchronous=False)
            except KafkaException:
                pass  # the group moved (a rebalance or the redirect); the next owner resumes from the last commit
        c.close()

    def done(self):
        with self.lock:
            return len(self.acked) == len(self.lines) and all(s in self.seen for s in self.acked)

    def summary(self):
        with self.lock:
            consumed = sum(self.seen.values())
            redelivered = sum(n - 1 for n in self.seen.values() if n > 1)
            missing = [s for s in self.acked if s not in self.seen]
            rebuilt = [self.lines[s] for s in sorted(self.seen)]
            return {"lines": len(self.lines), "acknowledged": len(self.acked),
                    "acknowledged_twice": sum(n - 1 for n in self.acked.values() if n > 1),
                    "consumed": consumed, "unique": len(self.seen), "redelivered": redelivered,
                    "missing": len(missing), "out_of_order": self.out_of_order,
                    "identical": rebuilt == self.lines and consumed == len(self.lines),
                    "refused_writes": self.refused, "switches": self.switches}


def main():
    if len(sys.argv) not in (7, 8) or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    bootstrap_file, corpus, topic, group, rate, limit = sys.argv[1:7]
    client_config = read_client_config(sys.argv[7] if len(sys.argv) == 8 else None)
    with open(corpus, encoding="utf-8", errors="replace") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    app = App(bootstrap_file, lines, topic, group, float(rate), client_config)
    threads = [threading.Thread(target=app.produce_loop, daemon=True),
               threading.Thread(target=app.consume_loop, daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + float(limit)
    while time.monotonic() < deadline and not app.done():
        time.sleep(0.2)
    time.sleep(1)  # a late duplicate would still be counted
    app.stop.set()
    for t in threads:
        t.join(30)
    s = app.summary()
    print(json.dumps(s))
    ok = s["identical"] and s["redelivered"] == 0 and s["missing"] == 0 and s["acknowledged_twice"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
