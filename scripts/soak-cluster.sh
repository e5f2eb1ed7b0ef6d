#!/usr/bin/env bash
# Soak of in-region replication (issue 17): a 3-broker region on a real etcd under an idempotent
# acks=all producer while >= 100 faults are injected (SIGKILL of leaders, followers and the
# controller, SIGSTOP of leaders, SIGTERM), then a check that nothing acknowledged was lost or
# duplicated. Prints the totals as one JSON line (faults, acknowledged, lost, duplicated) and exits
# non-zero if lost or duplicated is not 0. Builds ferry-broker first (the tests' build dir).
# Arguments go to tests/integration/soak_cluster.py: --faults N (default 100), --seed S (replays a
# run), --partitions P. Safe to re-run: every run has its own ports and temp dirs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FERRY_BUILD_DIR:-$repo/build}"
if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S "$repo" -B "$build" -G Ninja >&2
  ninja -C "$build" ferry-broker >&2
fi
cd "$repo/tests/integration"
FERRY_BROKER="$build/broker/ferry-broker" exec /usr/bin/python3 soak_cluster.py "$@"
