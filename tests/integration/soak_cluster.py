"""Soak of a 3-broker region on etcd (scripts/soak-cluster.sh): an idempotent acks=all producer
writes to a replication-factor-3, min.insync.replicas=2 topic while faults are injected one after
another, chosen by a seeded random generator: SIGKILL of the leader of a random partition, of a
follower, of the controller, SIGSTOP of a leader for a few seconds, SIGTERM of a broker. Each fault
is healed (the broker restarted or continued) and the region waits until every partition has its
full ISR before the next one. At the end every partition is read back and the checker counts
acknowledged-but-lost and duplicated records. Prints one JSON line with the totals; exits 1 when
anything was lost or duplicated, or the producer failed.

Usage: soak_cluster.py [--faults N] [--seed S] [--partitions P]
"""

import argparse
import json
import random
import sys
import time

from cluster_faults import Region, Workload, check, new_topic, read_log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--faults", type=int, default=100)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--partitions", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"soak: seed {args.seed}, {args.faults} faults", file=sys.stderr, flush=True)
    region = Region(n=3)
    kinds = {}
    started = time.monotonic()
    try:
        topic = new_topic(region, "soak", partitions=args.partitions)
        # One request in flight: see test_cluster_faults (librdkafka 2.0.2 and a frozen leader).
        work = Workload(region, topic, **{"max.in.flight.requests.per.connection": 1, "socket.timeout.ms": 10000})
        work.wait_acked(500)
        for i in range(args.faults):
            kind = rng.choice(["kill-leader", "kill-follower", "kill-controller", "stop-leader", "term-broker"])
            p = rng.randrange(args.partitions)
            leader = region.leader(topic, p)
            if kind == "kill-leader":
                victim = region.broker(leader)
            elif kind == "kill-follower":
                victim = region.broker(rng.choice([b.node_id for b in region.brokers if b.node_id != leader]))
            elif kind == "kill-controller":
                victim = region.broker(region.controller())
            elif kind == "stop-leader":
                victim = region.broker(leader)
            else:
                victim = rng.choice(region.brokers)
            kinds[kind] = kinds.get(kind, 0) + 1
            print(f"soak: fault {i + 1}/{args.faults}: {kind} broker {victim.node_id} "
                  f"(acknowledged so far {work.acked_count()})", file=sys.stderr, flush=True)
            if kind == "stop-leader":
                region.sigstop(victim)
                time.sleep(rng.uniform(0.5, 6.0))
                region.sigcont(victim)
            else:
                if kind == "term-broker":
                    victim.stop()
                else:
                    victim.kill()
                time.sleep(rng.uniform(0.0, 2.0))  # sometimes back at once, sometimes after an election
                victim.start(timeout=60)
            for q in range(args.partitions):
                region.wait_isr(topic, 3, q, timeout=90)
            work.wait_acked(200, timeout=90)
        work.stop()
        log = read_log(region, topic, args.partitions, timeout=120)
        lost, duplicated = check([v for v, _ in work.acked], log)
        result = {"faults": args.faults, "fault_kinds": kinds, "seed": args.seed, "acknowledged": len(work.acked),
                  "lost": lost, "duplicated": duplicated, "producer_errors": [str(e) for e in work.errors],
                  "seconds": round(time.monotonic() - started, 1)}
        print(json.dumps(result), flush=True)
        return 0 if lost == 0 and duplicated == 0 and not work.errors else 1
    finally:
        region.close()


if __name__ == "__main__":
    sys.exit(main())
