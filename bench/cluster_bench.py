"""Benchmark of in-region replication (issue 17), run by scripts/bench-cluster.sh. A region of three
ferry-brokers on one etcd member, then:

1. ferry-bench's broker phases twice in the same region: topics with replication factor 1, then
   with replication factor 3 and min.insync.replicas 2. The limit for RF 3 is the RF 1 run: the
   report gives acks=all MB/s and the latency phase's p99 of both, and their ratios.
2. Failover: an idempotent acks=all producer at full speed on a 1-partition RF 3 topic; the
   leader is SIGKILLed; the time from the kill to the first acknowledgement after it, over
   --failovers kills (the bound it is compared with: broker.session.timeout.ms, after which the
   controller elects).
3. Memory: each broker's RSS before and after creating a 1,000-partition RF 3 topic.

Prints one JSON document on stdout. Usage: cluster_bench.py --bench BIN [--records N] [--failovers K]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from cluster_faults import Region, Workload, new_topic  # noqa: E402
from ferry_harness import create_topics, wait_until  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def run_bench(args, region, rf):
    cmd = [args.bench, "--bootstrap", region.brokers[0].bootstrap, "--records", str(args.records),
           "--min-seconds", str(args.min_seconds), "--replication-factor", str(rf), "--data-dir",
           region.brokers[0].data_dir]
    print(f"cluster-bench: {' '.join(cmd)}", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"ferry-bench failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def acks_all(report, partitions):
    for p in report.get("produce", []):
        if p.get("acks") == "all" and p.get("partitions") == partitions:
            return p
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--records", type=int, default=500000)
    ap.add_argument("--min-seconds", type=float, default=10)
    ap.add_argument("--failovers", type=int, default=5)
    args = ap.parse_args()
    region = Region(n=3, **{"offsets.topic.replication.factor": 3})
    out = {"tool": "cluster_bench", "brokers": 3, "etcd_members": 1,
           "broker.session.timeout.ms": region.session_ms}
    try:
        # 3. memory first, on a fresh region
        before = {b.node_id: rss_mb(b.pid) for b in region.brokers}
        create_topics(region, "rss", partitions=1000, replication_factor=3, config={"min.insync.replicas": "2"},
                      timeout=120)
        wait_until(lambda: all(region.state("rss", p) for p in (0, 499, 999)), timeout=60, what="1000 leaders")
        time.sleep(3)
        after = {b.node_id: rss_mb(b.pid) for b in region.brokers}
        out["rss_mb"] = {"before": before, "after_1000_partitions_rf3": after,
                         "note": "VmRSS of each broker; every broker holds 1,000 replicas and leads about a third"}

        # 1. throughput and latency, RF 1 against RF 3 in the same region
        r1 = run_bench(args, region, 1)
        r3 = run_bench(args, region, 3)
        summary = {}
        for parts in (1, 8):
            a1, a3 = acks_all(r1, parts), acks_all(r3, parts)
            if a1 and a3:
                summary[f"acks_all_p{parts}"] = {"rf1_mb_per_s": a1.get("mb_per_s"), "rf3_mb_per_s": a3.get("mb_per_s"),
                                                 "ratio": round(a3["mb_per_s"] / a1["mb_per_s"], 3)
                                                 if a1.get("mb_per_s") else None}
        def lat(r):
            l = r.get("latency_ms", {})
            return {k: l.get(k) for k in ("rate_per_s", "rate_rule", "p50", "p99", "p999")}
        summary["latency_ms"] = {"rf1": lat(r1), "rf3": lat(r3)}
        out["replication"] = summary
        out["ferry_bench_rf1"] = r1
        out["ferry_bench_rf3"] = r3

        # 2. failover time
        topic = new_topic(region, "failover")
        times = []
        for i in range(args.failovers):
            work = Workload(region, topic, **{"max.in.flight.requests.per.connection": 1,
                                              "socket.timeout.ms": 10000})
            work.wait_acked(2000)
            leader = region.broker(region.leader(topic))
            leader.kill()
            killed = time.monotonic()
            work.wait_acked(100, timeout=60)
            with work.lock:
                first = next(ts for _, ts in work.acked if ts > killed)
            times.append(round((first - killed) * 1000))
            work.stop()
            leader.start()
            region.wait_isr(topic, 3)
            print(f"cluster-bench: failover {i + 1}: {times[-1]} ms", file=sys.stderr, flush=True)
        out["failover_ms"] = {"runs": times, "max": max(times), "min": min(times),
                              "bound_ms": region.session_ms,
                              "what": "SIGKILL of the leader to the first acks=all acknowledgement after it, "
                                      "measured by the producer (idempotent, one request in flight)"}
    finally:
        region.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
