#!/usr/bin/env bash
# Benchmark of in-region replication (issue 17): builds Release ferry-broker and ferry-bench,
# starts a 3-broker region on one etcd member (real processes on loopback ports) and prints one
# JSON document: acks=all throughput and p99 latency with replication factor 3 against 1 in the
# same region, the time from SIGKILL of a leader to the first acknowledgement on its successor,
# and broker RSS with 1,000 partitions. Saved to <build>/bench-cluster.json. Arguments go to
# bench/cluster_bench.py (--records N, --min-seconds S, --failovers K). Safe to re-run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FERRY_BUILD_DIR:-$repo/build-release}"
if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-broker ferry-bench >&2
fi
export FERRY_BROKER="$build/broker/ferry-broker"
/usr/bin/python3 "$repo/bench/cluster_bench.py" --bench "$build/bench/ferry-bench" "$@" | tee "$build/bench-cluster.json"
